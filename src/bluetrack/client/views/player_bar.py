"""The player bar: what plays, elapsed and remaining time, progress, and a stop button."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QProgressBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bluetrack.client.views.style import format_duration, genre_label
from bluetrack.client.views.widgets import ElidedLabel, label, named
from bluetrack.protocol.messages import TrackSummary


class PlayerBar(QFrame):
    stop_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("playerBar")
        self.setFixedHeight(76)
        self.title = ElidedLabel("", "playerTitle")
        self.artists = ElidedLabel("", "playerArtists")
        self.genre = label("", "playerArtists")
        self.stop_button = named(QToolButton(), "playerStop")
        self.stop_button.setText("■")
        self.stop_button.setFixedSize(36, 36)
        self.stop_button.setToolTip(self.tr("Stop"))
        self.stop_button.setAccessibleName(self.tr("Stop"))
        self.stop_button.clicked.connect(self.stop_requested)
        self.elapsed = label("0:00", "playerTime")
        self.remaining = label("-0:00", "playerTime")
        self.progress = QProgressBar(textVisible=False)
        self.progress.setRange(0, 1000)
        self._layout()
        self.show_idle()

    def _layout(self) -> None:
        about = QVBoxLayout()
        about.setSpacing(2)
        about.addWidget(self.title)
        about.addWidget(self.artists)
        about_box = QWidget()
        about_box.setLayout(about)
        about_box.setFixedWidth(300)
        timeline = QHBoxLayout()
        timeline.setSpacing(10)
        timeline.addWidget(self.elapsed)
        timeline.addWidget(self.progress, 1)
        timeline.addWidget(self.remaining)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(24, 10, 24, 10)
        layout.setSpacing(18)
        layout.addWidget(about_box)
        layout.addWidget(self.stop_button)
        layout.addLayout(timeline, 1)
        layout.addWidget(self.genre)
        self.genre.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def show_track(self, track: TrackSummary, genre: str) -> None:
        self.title.set_full_text(track.name or self.tr("Untitled"))
        self.artists.set_full_text(", ".join(track.artists) or self.tr("Unknown artist"))
        self.genre.setText(genre_label(genre))
        self.stop_button.setEnabled(True)
        self.show_progress(0, track.duration_ms)

    def show_progress(self, elapsed_ms: int, duration_ms: int) -> None:
        self.elapsed.setText(format_duration(elapsed_ms))
        self.remaining.setText("-" + format_duration(duration_ms - elapsed_ms))
        share = elapsed_ms / duration_ms if duration_ms else 1.0
        self.progress.setValue(round(1000 * min(share, 1.0)))

    def show_idle(self) -> None:
        self.title.set_full_text(self.tr("Nothing playing"))
        self.artists.set_full_text(self.tr("Pick a track and press Play (or Space)"))
        self.genre.setText("")
        self.stop_button.setEnabled(False)
        self.elapsed.setText("0:00")
        self.remaining.setText("-0:00")
        self.progress.setValue(0)
