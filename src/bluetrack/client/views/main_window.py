"""The window: three pages in a stack and a status line that says how the connection is."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QMainWindow, QStackedWidget, QWidget

from bluetrack.client.views.login import LoginPage
from bluetrack.client.views.main_page import MainPage
from bluetrack.client.views.register import RegisterPage
from bluetrack.client.views.style import STYLESHEET
from bluetrack.client.views.widgets import label, repolish

MINIMUM_SIZE = QSize(960, 620)
DEFAULT_SIZE = QSize(1320, 820)


class MainWindow(QMainWindow):
    """A normal, resizable window (the seed's was frameless and fixed at 1500x800)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(self.tr("BlueTrack"))
        self.setMinimumSize(MINIMUM_SIZE)
        self.resize(DEFAULT_SIZE)
        self.setStyleSheet(STYLESHEET)
        self.register_page = RegisterPage()
        self.login_page = LoginPage()
        self.main_page = MainPage()
        self.pages = QStackedWidget()
        for page in (self.login_page, self.register_page, self.main_page):
            self.pages.addWidget(page)
        self.setCentralWidget(self.pages)
        self.status_text = label("", "statusText")
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().setSizeGripEnabled(True)

    def show_page(self, page: QWidget) -> None:
        self.pages.setCurrentWidget(page)
        focus_first = getattr(page, "focus_first", None)
        if focus_first is not None:
            focus_first()

    def current_page(self) -> QWidget | None:
        return self.pages.currentWidget()

    def set_status(self, text: str, *, trouble: bool = False) -> None:
        self.status_text.setText(f"● {text}")
        self.status_text.setAccessibleName(text)
        self.status_text.setProperty("trouble", trouble)
        repolish(self.status_text)
