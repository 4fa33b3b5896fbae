"""The chart rules' parameters and the small pure functions both chart engines share.

docs/charts.md explains every rule with worked examples; the reference (``core.charts``)
and the vectorised engine (``processor.engine``) both follow it and are tested equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

QualifyRule = Literal["spotify", "lastfm"]

SECOND_MS: Final = 1000
SPOTIFY_MIN_MS: Final = 30_000
LASTFM_MIN_TRACK_MS: Final = 30_000
LASTFM_CAP_MS: Final = 240_000

# Order of events of one user at the same millisecond: closing first, then pause, resume,
# and a new play last, so "stop A, start B" in one millisecond leaves B playing.
OPERATION_RANK: Final[dict[str, int]] = {
    "stop": 0,
    "end": 0,
    "logout": 0,
    "pause": 1,
    "resume": 2,
    "start": 3,
}
CLOSING_OPERATIONS: Final = frozenset({"stop", "end", "logout"})


@dataclass(frozen=True, slots=True)
class Rules:
    """What a chart counts; the processor builds it from ``Settings``."""

    window_s: int = 900
    watermark_s: int = 30
    qualify_rule: QualifyRule = "spotify"

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError("window_s must be positive")
        if self.watermark_s < 0:
            raise ValueError("watermark_s must not be negative")
        if self.qualify_rule not in ("spotify", "lastfm"):
            raise ValueError(f"unknown qualify_rule {self.qualify_rule!r}")

    @property
    def window_ms(self) -> int:
        return self.window_s * SECOND_MS

    @property
    def watermark_ms(self) -> int:
        return self.watermark_s * SECOND_MS

    def threshold_ms(self, duration_ms: int) -> int | None:
        """Listening time after which a play of this track counts; None: it never does."""
        if self.qualify_rule == "spotify":
            return min(SPOTIFY_MIN_MS, duration_ms) if duration_ms > 0 else None
        if duration_ms <= LASTFM_MIN_TRACK_MS:
            return None
        return min(duration_ms // 2, LASTFM_CAP_MS)


def counting_horizon(watermark_ms: int) -> int:
    """Plays that qualified at or before this instant are final: the watermark, whole seconds.

    Whole seconds let the trailing window be kept as per-second counts without changing
    which plays it holds.
    """
    return watermark_ms // SECOND_MS * SECOND_MS


def trend_bucket(qualified_at_ms: int) -> int:
    """The second ``(k-1 s, k s]`` a qualification falls in: the windows are open on the left."""
    return -(-qualified_at_ms // SECOND_MS)
