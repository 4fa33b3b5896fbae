"""The register page: username, e-mail and password, checked inline by the server's rules."""

from __future__ import annotations

from PySide6.QtCore import Signal

from bluetrack.client.views.forms import FormField, FormPage, by_rule, chain_tab_order
from bluetrack.core.validation import check_email, check_password, check_username


class RegisterPage(FormPage):
    register_requested = Signal(str, str, str)  # username, e-mail, password
    login_wanted = Signal()

    def __init__(self) -> None:
        super().__init__(
            self.tr("Create your account"),
            self.tr("It takes a few seconds. Your password never leaves this computer unsealed."),
        )
        self.username = FormField(
            self.tr("Username"), self.tr("3 to 32 characters"), by_rule(check_username)
        )
        self.email = FormField(self.tr("E-mail"), self.tr("you@example.com"), by_rule(check_email))
        self.password = FormField(
            self.tr("Password"),
            self.tr("At least 8 characters"),
            by_rule(check_password),
            secret=True,
        )
        self.submit_button = self.primary_button(self.tr("Create account"))
        self.to_login = self.link_button(self.tr("Already have an account? Log in"))
        self.to_login.clicked.connect(self.login_wanted)
        for field in (self.username, self.email, self.password):
            self.card_layout.addWidget(field)
        self.card_layout.addSpacing(6)
        self.card_layout.addWidget(self.submit_button)
        self.card_layout.addWidget(self.to_login)
        chain_tab_order(
            self.username.edit,
            self.email.edit,
            self.password.edit,
            self.submit_button,
            self.to_login,
        )

    def submit(self) -> None:
        if not self.submit_button.isEnabled():
            return  # a request is already on its way
        fields = (self.username, self.email, self.password)
        valid = [field.validate() for field in fields]
        if not all(valid):
            fields[valid.index(False)].edit.setFocus()
            return
        self.clear_message()
        self.register_requested.emit(self.username.text, self.email.text, self.password.text)

    def set_busy(self, busy: bool) -> None:
        self.submit_button.setEnabled(not busy)
        self.submit_button.setText(
            self.tr("Creating account…") if busy else self.tr("Create account")
        )

    def reset(self) -> None:
        for field in (self.username, self.email, self.password):
            field.clear()
        self.clear_message()
        self.set_busy(False)

    def focus_first(self) -> None:
        self.username.edit.setFocus()
