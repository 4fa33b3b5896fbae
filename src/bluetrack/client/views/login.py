"""The log-in page: by username or e-mail, with "remember me"."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox

from bluetrack.client.views.forms import FormField, FormPage, chain_tab_order


class LoginPage(FormPage):
    login_requested = Signal(str, str, bool)  # username or e-mail, password, remember me
    register_wanted = Signal()

    def __init__(self) -> None:
        super().__init__(
            self.tr("Welcome back"), self.tr("Log in with your username or e-mail address.")
        )
        self.login = FormField(
            self.tr("Username or e-mail"), self.tr("name or you@example.com"), self._check_login
        )
        self.password = FormField(
            self.tr("Password"), self.tr("Your password"), self._check_password, secret=True
        )
        self.remember = QCheckBox(self.tr("Remember me on this computer"))
        self.submit_button = self.primary_button(self.tr("Log in"))
        self.to_register = self.link_button(self.tr("New here? Create an account"))
        self.to_register.clicked.connect(self.register_wanted)
        for widget in (self.login, self.password, self.remember):
            self.card_layout.addWidget(widget)
        self.card_layout.addSpacing(6)
        self.card_layout.addWidget(self.submit_button)
        self.card_layout.addWidget(self.to_register)
        chain_tab_order(
            self.login.edit,
            self.password.edit,
            self.remember,
            self.submit_button,
            self.to_register,
        )

    def _check_login(self, login: str) -> str | None:
        # A login is a username or an e-mail, so only emptiness is a sure mistake.
        return None if login.strip() else self.tr("Enter your username or e-mail.")

    def _check_password(self, password: str) -> str | None:
        # Only emptiness: an old account may predate today's password rules.
        return None if password else self.tr("Enter your password.")

    def submit(self) -> None:
        if not self.submit_button.isEnabled():
            return
        fields = (self.login, self.password)
        valid = [field.validate() for field in fields]
        if not all(valid):
            fields[valid.index(False)].edit.setFocus()
            return
        self.clear_message()
        self.login_requested.emit(
            self.login.text.strip(), self.password.text, self.remember.isChecked()
        )

    def set_busy(self, busy: bool, text: str | None = None) -> None:
        self.submit_button.setEnabled(not busy)
        self.submit_button.setText(text or (self.tr("Logging in…") if busy else self.tr("Log in")))

    def prefill(self, login: str) -> None:
        self.login.edit.setText(login)
        self.password.edit.setFocus()

    def reset(self) -> None:
        self.password.clear()
        self.clear_message()
        self.set_busy(False)

    def focus_first(self) -> None:
        (self.password if self.login.text else self.login).edit.setFocus()
