"""The main page: a dark sidebar, genre shelves, the live chart and the player bar."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bluetrack.client.views.chart_panel import ChartPanel
from bluetrack.client.views.forms import chain_tab_order
from bluetrack.client.views.player_bar import PlayerBar
from bluetrack.client.views.shelves import ShelvesView
from bluetrack.client.views.widgets import label, named


class MainPage(QWidget):
    refresh_requested = Signal()
    logout_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.user = label("", "sidebarUser")
        self.refresh_button = QPushButton(self.tr("⟳  New shelves"))
        self.refresh_button.setToolTip(self.tr("Get a new random set of genres and tracks (F5)"))
        self.refresh_button.clicked.connect(self.refresh_requested)
        refresh_key = QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self)
        refresh_key.activated.connect(self.refresh_button.click)  # F5 / Ctrl+R, as in browsers
        self.logout_button = QPushButton(self.tr("⎋  Log out"))
        self.logout_button.clicked.connect(self.logout_requested)
        self.shelves = ShelvesView()
        self.chart = ChartPanel()
        self.player = PlayerBar()
        self.subtitle = label("", "shelfCount")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        top = QHBoxLayout()
        top.setSpacing(0)
        top.addWidget(self._sidebar())
        top.addWidget(self._content(), 1)
        layout.addLayout(top, 1)
        layout.addWidget(self.player)

    def _sidebar(self) -> QWidget:
        bar = named(QFrame(), "sidebar")
        bar.setFixedWidth(208)
        layout = QVBoxLayout(bar)
        layout.setContentsMargins(18, 22, 18, 18)
        layout.setSpacing(8)
        layout.addWidget(label("♫ BlueTrack", "sidebarBrand"))
        layout.addSpacing(18)
        layout.addWidget(QLabel(self.tr("Signed in as")))
        layout.addWidget(self.user)
        layout.addSpacing(18)
        layout.addWidget(self.refresh_button)
        layout.addStretch(1)
        layout.addWidget(self.logout_button)
        return bar

    def _content(self) -> QWidget:
        content = named(QWidget(), "content")
        content.setAutoFillBackground(True)
        header = QVBoxLayout()
        header.setContentsMargins(28, 22, 20, 4)
        header.setSpacing(2)
        header.addWidget(label(self.tr("Browse by genre"), "pageTitle"))
        header.addWidget(self.subtitle)
        left = QVBoxLayout()
        left.setSpacing(8)
        left.addLayout(header)
        left.addWidget(self.shelves, 1)
        right = QVBoxLayout()
        right.setContentsMargins(0, 22, 22, 22)
        right.addWidget(self.chart)
        layout = QHBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(left, 1)
        layout.addLayout(right, 0)
        self.chart.setFixedWidth(340)
        return content

    def show_user(self, username: str) -> None:
        self.user.setText(username)

    def show_shelves_loading(self) -> None:
        self.refresh_button.setEnabled(False)
        self.subtitle.setText(self.tr("Loading a new set of shelves…"))

    def shelves_loaded(self, genre_count: int, track_count: int) -> None:
        self.refresh_button.setEnabled(True)
        self._order_focus()
        genres = self.tr("%n genre(s)", "", genre_count)
        tracks = self.tr("%n track(s)", "", track_count)
        self.subtitle.setText(
            self.tr("%1 and %2, picked at random. Space plays the focused track.")
            .replace("%1", genres)
            .replace("%2", tracks)
        )

    def _order_focus(self) -> None:
        """Tab reads the page as the eye does: sidebar, tiles shelf by shelf, chart, player.
        (Tiles are made after the rest, so Qt's default order would put them last.)"""
        chain_tab_order(
            self.refresh_button,
            self.logout_button,
            *self.shelves.tiles(),
            *self.chart.buttons.buttons(),
            self.player.stop_button,
        )

    def shelves_failed(self, text: str) -> None:
        self.refresh_button.setEnabled(True)
        self.subtitle.setText(text)

    def focus_first(self) -> None:
        tiles = self.shelves.tiles()
        if tiles:
            tiles[0].setFocus(Qt.FocusReason.OtherFocusReason)
