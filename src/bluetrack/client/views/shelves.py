"""Genre shelves of track tiles: title, artists, duration, and play/stop on each tile."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFocusEvent, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bluetrack.client.views.style import format_duration, genre_label
from bluetrack.client.views.widgets import ElidedLabel, label, named, repolish
from bluetrack.protocol.messages import Shelf, TrackSummary

TILE_WIDTH = 208
TILE_HEIGHT = 112
PLAY = "▶"
STOP = "■"


class TrackTile(QFrame):
    """A focusable card; Space (or Enter, or its button) plays or stops the track."""

    toggled = Signal(object, str)  # TrackSummary, genre
    focused = Signal(object)  # the tile, so its shelf can scroll it into view

    def __init__(self, track: TrackSummary, genre: str) -> None:
        super().__init__()
        self.track = track
        self.genre = genre
        self.setObjectName("tile")
        self.setFixedSize(TILE_WIDTH, TILE_HEIGHT)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        title = track.name or self.tr("Untitled")
        artists = ", ".join(track.artists) or self.tr("Unknown artist")
        self.setAccessibleName(self.tr("%1 by %2").replace("%1", title).replace("%2", artists))
        self.setToolTip(f"{title}\n{artists}\n{track.album}")
        self.title = ElidedLabel(title, "tileTitle")
        self.artists = ElidedLabel(artists, "tileArtists")
        self.duration = label(format_duration(track.duration_ms), "tileDuration")
        self.button = named(QToolButton(), "tilePlay")
        self.button.setFixedSize(32, 32)
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the tile itself takes focus
        self.button.clicked.connect(self._toggle)
        self._layout()
        self.set_playing(False)

    def _layout(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 12, 10)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.artists)
        layout.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.duration)
        bottom.addStretch(1)
        bottom.addWidget(self.button)
        layout.addLayout(bottom)

    @property
    def playing(self) -> bool:
        return bool(self.property("playing"))

    def set_playing(self, playing: bool) -> None:
        self.setProperty("playing", playing)
        self.button.setText(STOP if playing else PLAY)
        self.button.setToolTip(self.tr("Stop") if playing else self.tr("Play"))
        self.button.setAccessibleName(self.button.toolTip())
        repolish(self)

    def _toggle(self) -> None:
        self.toggled.emit(self.track, self.genre)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._toggle()
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self._toggle()

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.focused.emit(self)


class ShelfRow(QWidget):
    """One genre: its name over a horizontally scrolling strip of tiles."""

    def __init__(self, shelf: Shelf) -> None:
        super().__init__()
        self.genre = shelf.genre
        self.tiles = [TrackTile(track, shelf.genre) for track in shelf.tracks]
        header = QHBoxLayout()
        header.addWidget(label(genre_label(shelf.genre), "shelfTitle"))
        count = self.tr("%n track(s)", "", len(self.tiles))
        header.addWidget(label(count, "shelfCount"))
        header.addStretch(1)
        self.strip = QScrollArea()
        self.strip.setWidgetResizable(True)
        self.strip.setFrameShape(QFrame.Shape.NoFrame)
        self.strip.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.strip.setFixedHeight(TILE_HEIGHT + 18)
        self.strip.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = named(QWidget(), "shelfStrip")
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(12)
        for tile in self.tiles:
            row.addWidget(tile)
            tile.focused.connect(self._reveal)
        row.addStretch(1)
        self.strip.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.strip)

    def _reveal(self, tile: TrackTile) -> None:
        self.strip.ensureWidgetVisible(tile, 16, 0)


class ShelvesView(QScrollArea):
    """All shelves, scrolling vertically; tells which tile was toggled."""

    tile_toggled = Signal(object, str)  # TrackSummary, genre

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.rows: list[ShelfRow] = []
        self._playing_id: str | None = None
        self._empty = label(self.tr("Loading shelves…"), "emptyShelves")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWidget(self._empty)

    def tiles(self) -> list[TrackTile]:
        return [tile for row in self.rows for tile in row.tiles]

    def show_shelves(self, shelves: list[Shelf]) -> None:
        self.rows = [ShelfRow(shelf) for shelf in shelves if shelf.tracks]
        if not self.rows:
            self.show_message(self.tr("No tracks to show. Try New shelves."))
            return
        body = named(QWidget(), "shelvesBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(28, 8, 20, 24)
        layout.setSpacing(22)
        for row in self.rows:
            layout.addWidget(row)
            for tile in row.tiles:
                tile.toggled.connect(self.tile_toggled)
                tile.focused.connect(self._reveal)
        layout.addStretch(1)
        self.setWidget(body)  # the old body (and its tiles) is deleted by the scroll area
        self.mark_playing(self._playing_id)

    def show_message(self, text: str) -> None:
        self.rows = []
        self._empty = label(text, "emptyShelves")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self.setWidget(self._empty)

    def mark_playing(self, track_id: str | None) -> None:
        """Highlight the playing track (it may sit on several shelves) and no other."""
        self._playing_id = track_id
        for tile in self.tiles():
            if tile.playing != (tile.track.track_id == track_id):
                tile.set_playing(not tile.playing)

    def _reveal(self, tile: TrackTile) -> None:
        self.ensureWidgetVisible(tile, 0, 24)
