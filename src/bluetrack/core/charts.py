"""The chart semantics, once, as plain Python: the reference the fast engine is tested against.

``ReferenceCharts`` keeps every accepted event and recomputes each chart from scratch, so it
is slow but obviously a function of the set of events it accepted. docs/charts.md explains
the rules with worked examples; ``processor.engine.ChartEngine`` computes the same charts
incrementally and vectorised.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bluetrack.core.rules import (
    CLOSING_OPERATIONS,
    OPERATION_RANK,
    Rules,
    counting_horizon,
)
from bluetrack.protocol.charts import TOP_N, ChartMessage, GenreCount, Ranking
from bluetrack.protocol.plays import AcceptedPlay

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

GenreCounts = tuple[tuple[str, int], ...]


def to_epoch_ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + timedelta(milliseconds=value)


@dataclass(frozen=True, slots=True)
class PlayRecord:
    """One accepted play event as the chart rules see it; times are epoch milliseconds UTC."""

    event_id: str
    user_id: str
    track_id: str
    operation_type: str
    start_time_ms: int
    event_time_ms: int
    duration_ms: int
    genre: str

    @classmethod
    def from_accepted(cls, play: AcceptedPlay) -> PlayRecord:
        return cls(
            event_id=play.event_id,
            user_id=play.user_id,
            track_id=play.track_id,
            operation_type=play.operation_type,
            start_time_ms=to_epoch_ms(play.start_time),
            event_time_ms=to_epoch_ms(play.event_time),
            duration_ms=play.duration_ms,
            genre=play.genre,
        )


def rank_genres(counts: Mapping[str, int]) -> GenreCounts:
    """Every genre with a positive count: highest count first, ties by genre name."""
    ranked = sorted(((g, c) for g, c in counts.items() if c > 0), key=lambda gc: (-gc[1], gc[0]))
    return tuple(ranked)


@dataclass(frozen=True, slots=True)
class ChartSnapshot:
    """One trigger's chart. The rankings are complete; the message carries their top ``TOP_N``.

    ``chart_time_ms`` is the "now" of listeners now (the latest event time seen);
    ``watermark_ms`` the event-time watermark after this batch; trending counts the plays
    that qualified in ``(window_start_ms, window_end_ms]``. All None before the first event.
    """

    now: GenreCounts
    trending: GenreCounts
    all_time: GenreCounts
    chart_time_ms: int | None
    watermark_ms: int | None
    window_start_ms: int | None
    window_end_ms: int | None
    late_dropped: int
    input_rows: int

    def to_message(self, batch_id: int, computed_at: datetime, qualify_rule: str) -> ChartMessage:
        chart_time = (
            computed_at if self.chart_time_ms is None else from_epoch_ms(self.chart_time_ms)
        )
        return ChartMessage.model_validate(
            {
                "batch_id": batch_id,
                "computed_at": computed_at,
                "chart_time": chart_time,
                "watermark": _optional_time(self.watermark_ms),
                "now": _ranking(self.now),
                "trending": _ranking(
                    self.trending,
                    _optional_time(self.window_start_ms),
                    _optional_time(self.window_end_ms),
                ),
                "all_time": _ranking(self.all_time),
                "qualify_rule": qualify_rule,
                "input_rows": self.input_rows,
                "late_dropped": self.late_dropped,
            }
        )


def _optional_time(ms: int | None) -> datetime | None:
    return None if ms is None else from_epoch_ms(ms)


def _ranking(
    counts: GenreCounts, start: datetime | None = None, end: datetime | None = None
) -> Ranking:
    entries = [GenreCount(genre=g, count=c) for g, c in counts[:TOP_N]]
    return Ranking(entries=entries, window_start=start, window_end=end)


def empty_snapshot(late_dropped: int, input_rows: int) -> ChartSnapshot:
    return ChartSnapshot((), (), (), None, None, None, None, late_dropped, input_rows)


def event_order(event: PlayRecord) -> tuple[int, int, str, int, str]:
    """One user's events in event time; same-millisecond ties as docs/charts.md orders them.

    Of simultaneous starts the last one wins: the greatest genre name, then the longest
    track; the event id only makes the order total (such starts are interchangeable).
    """
    rank = OPERATION_RANK[event.operation_type]
    return (event.event_time_ms, rank, event.genre, event.duration_ms, event.event_id)


@dataclass(slots=True)
class _Play:
    genre: str
    duration_ms: int
    threshold_ms: int | None
    playing_since: int | None  # None while paused
    listened_ms: int = 0

    @property
    def finished(self) -> bool:
        return self.listened_ms >= self.duration_ms

    def listen_until(self, instant_ms: int) -> int | None:
        """Accrue listening up to ``instant_ms``; the qualification instant if it was crossed."""
        if self.playing_since is None:
            return None
        since, before = self.playing_since, self.listened_ms
        self.listened_ms = min(self.duration_ms, before + instant_ms - since)
        self.playing_since = instant_ms
        threshold = self.threshold_ms
        if threshold is not None and before < threshold <= self.listened_ms:
            return since + threshold - before
        return None


@dataclass(slots=True)
class UserOutcome:
    """What one user's events mean at chart time: qualification instants and current genre."""

    qualified: list[tuple[int, str]] = field(default_factory=list)
    listening: str | None = None


def replay_user(events: Iterable[PlayRecord], rules: Rules, now_ms: int) -> UserOutcome:
    """Walk one user's events in event time: at most one play at a time (docs/charts.md)."""
    outcome = UserOutcome()
    play: _Play | None = None
    for event in sorted(events, key=event_order):
        at = event.event_time_ms
        if play is not None:
            qualified_at = play.listen_until(at)
            if qualified_at is not None:
                outcome.qualified.append((qualified_at, play.genre))
            if play.finished:
                play = None
        op = event.operation_type
        if op in CLOSING_OPERATIONS:
            play = None
        elif op == "pause" and play is not None:
            play.playing_since = None
        elif op == "resume" and play is not None and play.playing_since is None:
            play.playing_since = at
        elif op == "start":
            threshold = rules.threshold_ms(event.duration_ms)
            play = _Play(event.genre, event.duration_ms, threshold, playing_since=at)
            if play.finished:  # an empty track ends as it starts
                play = None
    if play is not None and play.playing_since is not None:
        _project_open_play(play, now_ms, outcome)
    return outcome


def _project_open_play(play: _Play, now_ms: int, outcome: UserOutcome) -> None:
    """A play still going after the last event: it qualifies and ends on its own timers."""
    assert play.playing_since is not None
    threshold = play.threshold_ms
    if threshold is not None and play.listened_ms < threshold:
        outcome.qualified.append((play.playing_since + threshold - play.listened_ms, play.genre))
    if play.playing_since + play.duration_ms - play.listened_ms > now_ms:
        outcome.listening = play.genre


class ReferenceCharts:
    """The chart rules as a slow, obviously correct recomputation over every accepted event."""

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._seen_ids: set[str] = set()
        self._events: defaultdict[str, list[PlayRecord]] = defaultdict(list)
        self._latest_event_ms: int | None = None

    @property
    def watermark_ms(self) -> int | None:
        if self._latest_event_ms is None:
            return None
        return self._latest_event_ms - self.rules.watermark_ms

    def step(self, events: Sequence[PlayRecord], batch_id: int) -> ChartSnapshot:
        """Accept one micro-batch and return its chart; ``batch_id`` is only for symmetry."""
        del batch_id
        late_before = self.watermark_ms  # the watermark as of the start of the batch
        late_dropped = 0
        for event in events:
            if late_before is not None and event.event_time_ms < late_before:
                late_dropped += 1
            elif event.event_id not in self._seen_ids:
                self._accept(event)
        return self._chart(late_dropped, len(events))

    def _accept(self, event: PlayRecord) -> None:
        self._seen_ids.add(event.event_id)
        self._events[event.user_id].append(event)
        latest = self._latest_event_ms
        self._latest_event_ms = (
            event.event_time_ms if latest is None else max(latest, event.event_time_ms)
        )

    def _chart(self, late_dropped: int, input_rows: int) -> ChartSnapshot:
        now_ms, watermark_ms = self._latest_event_ms, self.watermark_ms
        if now_ms is None or watermark_ms is None:
            return empty_snapshot(late_dropped, input_rows)
        horizon = counting_horizon(watermark_ms)
        window_start = horizon - self.rules.window_ms
        listening: Counter[str] = Counter()
        all_time: Counter[str] = Counter()
        trending: Counter[str] = Counter()
        for user_events in self._events.values():
            outcome = replay_user(user_events, self.rules, now_ms)
            if outcome.listening is not None:
                listening[outcome.listening] += 1
            for qualified_at, genre in outcome.qualified:
                if qualified_at <= horizon:
                    all_time[genre] += 1
                    if qualified_at > window_start:
                        trending[genre] += 1
        return ChartSnapshot(
            now=rank_genres(listening),
            trending=rank_genres(trending),
            all_time=rank_genres(all_time),
            chart_time_ms=now_ms,
            watermark_ms=watermark_ms,
            window_start_ms=window_start,
            window_end_ms=horizon,
            late_dropped=late_dropped,
            input_rows=input_rows,
        )
