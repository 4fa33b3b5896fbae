"""Simulated playback (the dataset has no audio): one track at a time, with a clock.

The player never talks to the bus; each state change emits a ``PlayIntent`` that the app
sends as a play event. Starting a track while another plays stops the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from bluetrack.client.gateway import PlayOperation
from bluetrack.protocol.envelope import new_id, utc_now
from bluetrack.protocol.messages import TrackSummary

TICK_MS = 200


@dataclass(frozen=True, slots=True)
class PlayIntent:
    """A play event to send: what happened to which track, and when."""

    operation: PlayOperation
    track: TrackSummary
    genre: str
    start_time: datetime
    event_time: datetime
    event_id: str = field(default_factory=new_id)  # kept across retries: counted once


@dataclass(frozen=True, slots=True)
class _Playing:
    track: TrackSummary
    genre: str
    start_time: datetime
    started_mono: float


class Player(QObject):
    intent = Signal(object)  # PlayIntent
    started = Signal(object, str)  # TrackSummary, genre
    stopped = Signal()  # stopped by the user, finished, or logged out
    progressed = Signal(int, int)  # elapsed ms, duration ms

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._monotonic = monotonic
        self._playing: _Playing | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    @property
    def current(self) -> TrackSummary | None:
        return self._playing.track if self._playing else None

    def is_playing(self, track_id: str) -> bool:
        return self._playing is not None and self._playing.track.track_id == track_id

    def toggle(self, track: TrackSummary, genre: str) -> None:
        if self.is_playing(track.track_id):
            self.stop()
        else:
            self.play(track, genre)

    def play(self, track: TrackSummary, genre: str) -> None:
        self.stop()
        now = self._clock()
        self._playing = _Playing(track, genre, now, self._monotonic())
        self._send("start", now)
        self._timer.start()
        self.started.emit(track, genre)
        self.progressed.emit(0, track.duration_ms)

    def stop(self) -> None:
        self._finish("stop")

    def elapsed_ms(self) -> int:
        if self._playing is None:
            return 0
        elapsed = round((self._monotonic() - self._playing.started_mono) * 1000)
        return min(elapsed, self._playing.track.duration_ms)

    @Slot()
    def _tick(self) -> None:
        if self._playing is None:
            return
        elapsed, duration = self.elapsed_ms(), self._playing.track.duration_ms
        self.progressed.emit(elapsed, duration)
        if elapsed >= duration:
            self._finish("end")

    def _finish(self, operation: PlayOperation) -> None:
        if self._playing is None:
            return
        self._send(operation, self._clock())
        self._playing = None
        self._timer.stop()
        self.stopped.emit()

    def _send(self, operation: PlayOperation, at: datetime) -> None:
        assert self._playing is not None
        playing = self._playing
        self.intent.emit(
            PlayIntent(operation, playing.track, playing.genre, playing.start_time, at)
        )
