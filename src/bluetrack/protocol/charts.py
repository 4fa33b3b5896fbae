"""The chart message published on ``top_genres`` every trigger."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bluetrack.protocol.envelope import Message, UtcDateTime

TOP_N = 5


class GenreCount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    genre: str
    count: int = Field(ge=0)


class Ranking(BaseModel):
    """A Top-N list, highest count first, ties broken by genre name ascending."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: list[GenreCount] = Field(max_length=TOP_N)
    window_start: UtcDateTime | None = None
    window_end: UtcDateTime | None = None


class ChartMessage(Message):
    type: Literal["top_genres"] = "top_genres"
    batch_id: int = Field(ge=0)  # consumers drop a repeat of a batch id they have seen
    computed_at: UtcDateTime
    chart_time: UtcDateTime  # the event time the chart describes
    watermark: UtcDateTime | None = None
    now: Ranking  # listeners now (active plays)
    trending: Ranking  # qualified plays in the trailing window
    all_time: Ranking  # qualified plays since the beginning
    qualify_rule: Literal["spotify", "lastfm"] = "spotify"
    input_rows: int = Field(default=0, ge=0)
    late_dropped: int = Field(default=0, ge=0)
