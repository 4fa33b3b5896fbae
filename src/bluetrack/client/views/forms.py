"""What the register and log-in pages share: a brand panel, a card, checked fields."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from bluetrack.client import wording
from bluetrack.client.views.widgets import label, named
from bluetrack.core.validation import Violation

Check = Callable[[str], str | None]  # the problem with a value, in plain words, or None


def by_rule(rule: Callable[[str], Violation | None]) -> Check:
    """A field check from the server's own rule (core.validation), in the user's language."""

    def check(value: str) -> str | None:
        violation = rule(value)
        return wording.field_problem(violation.code) if violation else None

    return check


def chain_tab_order(*widgets: QWidget) -> None:
    """Tab walks the widgets in the order given, as a reader's eye would."""
    for first, second in pairwise(widgets):
        QWidget.setTabOrder(first, second)


class FormField(QWidget):
    """A label, a line edit and the inline problem under it, checked as the user types."""

    def __init__(self, title: str, placeholder: str, check: Check, *, secret: bool = False) -> None:
        super().__init__()
        self._check = check
        self._shown = False  # complain only once the user has left the field or submitted
        self.label = label(title, "fieldLabel")
        self.edit = QLineEdit(placeholderText=placeholder)
        self.edit.setAccessibleName(title)
        if secret:
            self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.label.setBuddy(self.edit)
        self.problem = label("", "fieldError", wrap=True)
        self.problem.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for widget in (self.label, self.edit, self.problem):
            layout.addWidget(widget)
        self.edit.editingFinished.connect(self._left)
        self.edit.textChanged.connect(self._typed)

    @property
    def text(self) -> str:
        return self.edit.text()

    def validate(self) -> bool:
        """Check now and show the outcome; True when the value is acceptable."""
        self._shown = True
        problem = self._check(self.edit.text())
        self.set_problem(problem)
        return problem is None

    def set_problem(self, text: str | None) -> None:
        self.problem.setText(text or "")
        self.problem.setVisible(bool(text))
        self.edit.setProperty("invalid", bool(text))
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)

    def clear(self) -> None:
        self._shown = False
        self.edit.clear()
        self.set_problem(None)

    def _left(self) -> None:
        if self.edit.text():
            self.validate()

    def _typed(self) -> None:
        if self._shown:
            self.validate()


class FormPage(QWidget):
    """A brand panel on the left and a centred card on the right; Enter submits."""

    def __init__(self, title: str, subtitle: str) -> None:
        super().__init__()
        self.card = named(QFrame(), "formCard")
        self.card.setMaximumWidth(440)
        self.card.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.card_layout = QVBoxLayout(self.card)
        self.card_layout.setContentsMargins(36, 32, 36, 32)
        self.card_layout.setSpacing(14)
        self.card_layout.addWidget(label(title, "formTitle"))
        self.card_layout.addWidget(label(subtitle, "formSubtitle", wrap=True))
        self.message = label("", "formError", wrap=True)
        self.message.hide()
        self.card_layout.addWidget(self.message)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._brand_panel(), 5)
        layout.addWidget(self._card_holder(), 6)

    def _brand_panel(self) -> QWidget:
        panel = named(QFrame(), "brandPanel")
        panel.setMinimumWidth(300)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(48, 48, 48, 48)
        layout.addStretch(2)
        layout.addWidget(label("♫ BlueTrack", "brandTitle"))
        layout.addSpacing(6)
        tagline = label(
            self.tr("Listen, and watch what everyone is listening to, live."),
            "brandTagline",
            wrap=True,
        )
        layout.addWidget(tagline)
        layout.addSpacing(24)
        for point in (
            self.tr("• Twenty genre shelves, new ones on every refresh"),
            self.tr("• One click to play, one to stop"),
            self.tr("• Live Top 5 genres: now, trending and all time"),
        ):
            layout.addWidget(QLabel(point, wordWrap=True))
        layout.addStretch(3)
        return panel

    def _card_holder(self) -> QWidget:
        holder = named(QWidget(), "content")
        holder.setAutoFillBackground(True)
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.card, 8)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)
        return holder

    def primary_button(self, text: str) -> QPushButton:
        button = named(QPushButton(text), "primary")
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.clicked.connect(self.submit)
        return button

    def link_button(self, text: str) -> QPushButton:
        button = named(QPushButton(text), "link")
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button

    def show_error(self, text: str) -> None:
        self._message(text, "formError")

    def show_notice(self, text: str) -> None:
        self._message(text, "formNotice")

    def clear_message(self) -> None:
        self.message.hide()

    def _message(self, text: str, kind: str) -> None:
        self.message.setObjectName(kind)
        self.message.setText(text)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.show()

    def submit(self) -> None:
        raise NotImplementedError

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            super().keyPressEvent(event)
            return
        focused = self.focusWidget()
        if isinstance(focused, QAbstractButton) and focused.objectName() == "link":
            focused.click()  # Enter on a link follows it rather than submitting the form
        else:
            self.submit()
