"""Helpers the GUI tests import by name (a conftest cannot be imported reliably)."""

from __future__ import annotations

from pathlib import Path

RECORDED = Path(__file__).parent / "recorded"


class ManualClock:
    """A monotonic clock the test moves: playback time without waiting for it."""

    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
