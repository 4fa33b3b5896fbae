"""The chart engine the Spark job steps once per micro-batch: ``core.charts``' rules, vectorised.

It computes exactly what ``core.charts.ReferenceCharts`` computes (the property tests in
tests/unit/test_engine_equivalence.py hold it to that), but keeps only what can still change:

* per user, the play *carried* at the user's fold point (genre, duration, listened time,
  playing or paused), the play at the user's latest event (``tip``: what listeners-now reads),
  and a *wake-up* instant (the earliest pending event or uncounted qualification);
* the *pending* events: those at or after the fold point, which a late event may reorder;
* per-second counts of qualified plays in the trailing window, and all-time counts.

A batch re-plays only the users it touches or that wake up (their carried play, pending
events and new events, sorted together), with numpy group operations over all of them at
once: no Python loop per event or per user. Everything before the counting horizon is final
(docs/charts.md), so it is folded into the carried play and the events are forgotten.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pyarrow as pa

from bluetrack.core.charts import ChartSnapshot, PlayRecord, empty_snapshot, rank_genres
from bluetrack.core.rules import (
    LASTFM_CAP_MS,
    LASTFM_MIN_TRACK_MS,
    OPERATION_RANK,
    SECOND_MS,
    SPOTIFY_MIN_MS,
    Rules,
)

# The batch the engine reads: one row per accepted play event (extra columns are ignored).
BATCH_DTYPES: dict[str, str] = {
    "event_id": "object",
    "user_id": "object",
    "track_id": "object",
    "operation_type": "object",
    "start_time_ms": "int64",
    "event_time_ms": "int64",
    "duration_ms": "int64",
    "genre": "object",
}


def frame_of(records: Sequence[PlayRecord]) -> pd.DataFrame:
    """A batch as the engine reads it, from records (tests, tools, the reference's input)."""
    columns = {name: [getattr(r, name) for r in records] for name in BATCH_DTYPES}
    return pd.DataFrame(columns).astype(BATCH_DTYPES)


I64 = np.int64
NEVER = 2**62  # a threshold never reached, a wake-up that never comes, an open segment
NOT_LISTENING = -(2**62)  # the tip's natural end when the user is not listening
NO_ANCHOR = -(2**58)  # carried-state instant of a user with nothing carried
CARRY = -1  # rank of the synthetic row that carries a user's folded state
CLOSE, PAUSE, RESUME, START = 0, 1, 2, 3
assert {CLOSE, PAUSE, RESUME, START} == set(OPERATION_RANK.values())

_FORMAT = b"BTCE1"  # serialisation: magic, JSON header length, header, Arrow IPC streams


# --------------------------------------------------------------------------------------------
# state containers


@dataclass(slots=True)
class _Columns:
    """Named numpy columns of equal length; subclasses declare them as fields."""

    def take(self, index: np.ndarray) -> Self:
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))

    def concat(self, other: Self) -> Self:
        return type(self)(
            *(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self))
        )

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))

    def to_arrow(self) -> pa.Table:
        return pa.table({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_arrow(cls, table: pa.Table) -> Self:
        return cls(
            *(table.column(f.name).to_numpy(zero_copy_only=False).copy() for f in fields(cls))
        )


@dataclass(slots=True)
class _Users(_Columns):
    """One row per user code. The carried play is the state at ``anchor`` (genre -1: none)."""

    genre: np.ndarray  # int32
    duration: np.ndarray  # int64
    anchor: np.ndarray  # int64
    listened: np.ndarray  # int64
    playing: np.ndarray  # bool
    tip_genre: np.ndarray  # int32
    tip_end: np.ndarray  # int64: natural end of the play at the latest event, if playing
    wakeup: np.ndarray  # int64: re-play the user once the counting horizon passes this

    @classmethod
    def blank(cls, n: int) -> _Users:
        return cls(
            genre=np.full(n, -1, np.int32),
            duration=np.zeros(n, I64),
            anchor=np.full(n, NO_ANCHOR, I64),
            listened=np.zeros(n, I64),
            playing=np.zeros(n, bool),
            tip_genre=np.full(n, -1, np.int32),
            tip_end=np.full(n, NOT_LISTENING, I64),
            wakeup=np.full(n, NEVER, I64),
        )


@dataclass(slots=True)
class _Events(_Columns):
    """Play events as rows; also the pending events kept between batches."""

    user: np.ndarray  # int64 user code
    time: np.ndarray  # int64 event time
    rank: np.ndarray  # int8: CLOSE, PAUSE, RESUME, START
    duration: np.ndarray  # int64
    genre: np.ndarray  # int32 (START only; -1 otherwise)
    event_id: np.ndarray  # object (str)

    @classmethod
    def empty(cls) -> _Events:
        return cls(
            np.zeros(0, I64),
            np.zeros(0, I64),
            np.zeros(0, np.int8),
            np.zeros(0, I64),
            np.zeros(0, np.int32),
            np.zeros(0, object),
        )


@dataclass(slots=True)
class _Trend(_Columns):
    """Qualified plays per (second, genre); the second ``k`` covers ``(k-1 s, k s]``."""

    second: np.ndarray  # int64
    genre: np.ndarray  # int32
    count: np.ndarray  # int64

    @classmethod
    def empty(cls) -> _Trend:
        return cls(np.zeros(0, I64), np.zeros(0, np.int32), np.zeros(0, I64))


class _UserDirectory:
    """User id -> dense code, in vectorised lookups.

    A hash index over all names is costly to rebuild, so names added since the last rebuild
    live in a small second index; the big one is rebuilt when that grows past a quarter.
    """

    def __init__(self, names: np.ndarray) -> None:
        self._index_all(names)

    def _index_all(self, names: np.ndarray) -> None:
        self.names = names
        self._base = pd.Index(names, dtype=object)
        self._recent = pd.Index(names[:0], dtype=object)

    def __len__(self) -> int:
        return len(self.names)

    def codes(self, ids: np.ndarray) -> np.ndarray:
        codes: np.ndarray = self._base.get_indexer(ids).astype(I64)
        missing = np.flatnonzero(codes < 0)
        if len(missing):
            codes[missing] = self._recent_codes(ids[missing])
        return codes

    def _recent_codes(self, ids: np.ndarray) -> np.ndarray:
        found = self._recent.get_indexer(ids).astype(I64)
        codes = np.where(found >= 0, found + len(self._base), -1)
        unknown = found < 0
        if unknown.any():
            position, new_names = pd.factorize(ids[unknown])
            codes[unknown] = len(self.names) + position
            self.names = np.concatenate([self.names, np.asarray(new_names, dtype=object)])
            self._reindex()
        return codes

    def _reindex(self) -> None:
        recent = self.names[len(self._base) :]
        if len(recent) > max(65_536, len(self._base) // 4):
            self._base = pd.Index(self.names, dtype=object)
            recent = self.names[:0]
        self._recent = pd.Index(recent, dtype=object)

    def keep(self, mask: np.ndarray) -> None:
        """Forget the users not in ``mask``; the kept ones are renumbered in order."""
        self._index_all(self.names[mask])


# --------------------------------------------------------------------------------------------
# one batch: rows, order, replay


@dataclass(slots=True)
class _Rows:
    """The rows re-played in a batch, sorted by user, then event time and rank.

    Each re-played user has one CARRY row first: its carried play (genre -1: none).
    """

    user: np.ndarray
    time: np.ndarray
    rank: np.ndarray
    duration: np.ndarray
    genre: np.ndarray
    listened: np.ndarray  # carried listened time (CARRY rows), else 0
    playing: np.ndarray  # carried playing flag (CARRY rows), else False
    event_id: np.ndarray


@dataclass(slots=True)
class _Replay:
    """Each row's play as of just after the row, from the group operations in ``replay``."""

    in_play: np.ndarray  # the row belongs to an open play
    playing: np.ndarray  # ... which is playing (not paused) after the row
    opener: np.ndarray  # row index of the play's START / CARRY row
    listened: np.ndarray  # the play's listened time at the row
    qualifies: np.ndarray  # the play reaches its threshold in the segment after the row
    qualified_at: np.ndarray  # ... at this instant


def _sort_order(user: np.ndarray, time_: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Order by (user, time, rank); one packed int64 argsort when the ranges allow."""
    is_carry = rank == CARRY
    events_time = time_[~is_carry]
    low = int(events_time.min()) - 1 if len(events_time) else 0
    # CARRY rows come first for their user whatever their anchor: sort them at ``low``.
    sort_time = np.where(is_carry, low, time_) - low
    time_bits = max(int(sort_time.max()).bit_length(), 1) if len(sort_time) else 1
    user_bits = max(int(user.max()).bit_length(), 1) if len(user) else 1
    if user_bits + time_bits + 3 <= 63:
        key = (user << (time_bits + 3)) | (sort_time << 3) | (rank.astype(I64) + 1)
        return np.argsort(key, kind="stable")
    order: np.ndarray = np.lexsort((rank, sort_time, user))
    return order


def _collapse_ties(rows: _Rows) -> np.ndarray:
    """Rows to keep of same-(user, time, rank) ties; docs/charts.md, "same millisecond".

    Copies of one event, and simultaneous closes, pauses or resumes, act as one; of
    simultaneous starts only the greatest event id matters (the others last 0 ms).
    """
    n = len(rows.user)
    keep = np.ones(n, bool)
    if n < 2:
        return keep
    same = (
        (rows.user[1:] == rows.user[:-1])
        & (rows.time[1:] == rows.time[:-1])
        & (rows.rank[1:] == rows.rank[:-1])
    )
    if not same.any():
        return keep
    keep[1:] = ~same
    tied = np.zeros(n, bool)
    tied[1:] |= same
    tied[:-1] |= same
    tied_starts = np.flatnonzero(tied & (rows.rank == START))
    if len(tied_starts):
        group = np.cumsum(keep)[tied_starts]
        ties = pd.DataFrame({"group": group, "event_id": rows.event_id[tied_starts]})
        ties["row"] = tied_starts
        winners = ties.sort_values(["group", "event_id"]).drop_duplicates("group", keep="last")
        keep[tied_starts] = False
        keep[winners["row"].to_numpy()] = True
    return keep


def _thresholds(duration: np.ndarray, rule: str) -> np.ndarray:
    """Vectorised ``Rules.threshold_ms``; NEVER where a play never qualifies."""
    if rule == "spotify":
        return np.where(duration > 0, np.minimum(SPOTIFY_MIN_MS, duration), NEVER)
    return np.where(duration > LASTFM_MIN_TRACK_MS, np.minimum(duration // 2, LASTFM_CAP_MS), NEVER)


def _running_last(mask: np.ndarray) -> np.ndarray:
    """For each row, the index of the latest row at or before it where ``mask`` holds (-1)."""
    return np.maximum.accumulate(np.where(mask, np.arange(len(mask)), -1))


def replay(rows: _Rows, last_of_user: np.ndarray, rule: str) -> _Replay:
    """Every re-played user's plays at once, with group operations instead of a loop.

    A play opens at a START (or a CARRY row with a play) and closes at the next START or
    closing event. Between consecutive rows it listens iff it was playing after the first;
    listened time is the clamped running sum of those stretches within the play.
    """
    is_carry = rows.rank == CARRY
    opens = (rows.rank == START) | (is_carry & (rows.genre >= 0))
    closes = (rows.rank == CLOSE) | (is_carry & (rows.genre < 0))
    opener = _running_last(opens)
    in_play = opener > _running_last(closes)
    opener = np.where(in_play, opener, 0)
    playing = in_play & ((rows.rank == START) | (rows.rank == RESUME) | (is_carry & rows.playing))
    duration = rows.duration[opener]
    next_time = np.empty_like(rows.time)
    next_time[:-1] = rows.time[1:]
    segment = np.where(last_of_user, NEVER, next_time - rows.time)
    # Clamping each stretch at the duration keeps sums small and the result unchanged.
    stretch = np.where(playing & ~last_of_user, np.minimum(segment, duration), 0)
    before = np.cumsum(stretch) - stretch
    listened = np.minimum(duration, rows.listened[opener] + before - before[opener])
    threshold = _thresholds(duration, rule)
    qualifies = (
        playing
        & (threshold <= duration)  # NEVER otherwise
        & (listened < threshold)
        & (listened + segment >= threshold)
    )
    qualified_at = np.where(qualifies, rows.time + threshold - listened, NEVER)
    return _Replay(in_play, playing, opener, listened, qualifies, qualified_at)


# --------------------------------------------------------------------------------------------
# the engine


class ChartEngine:
    """Steps one micro-batch at a time; state as numpy arrays, serialisable between batches."""

    COMPACT_MIN_DEAD: ClassVar[int] = 65_536

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._genres: list[str] = []
        self._genre_codes: dict[str, int] = {}
        self._directory = _UserDirectory(np.zeros(0, object))
        self._users = _Users.blank(0)
        self._pending = _Events.empty()
        self._trend = _Trend.empty()
        self._all_time = np.zeros(0, I64)
        self._latest_ms: int | None = None

    # ----- public API ---------------------------------------------------------------------

    def step(self, batch: pd.DataFrame, batch_id: int) -> ChartSnapshot:
        """Accept one micro-batch (duplicates and late events included) and chart it."""
        del batch_id  # the state depends only on the batches' contents, in order
        late_before = self.watermark_ms
        events, late_dropped = self._accepted(batch, late_before)
        if len(events):
            latest = int(events.time.max())
            self._latest_ms = latest if self._latest_ms is None else max(self._latest_ms, latest)
        horizon_before = None if late_before is None else _horizon(late_before)
        if self._latest_ms is not None:
            self._advance(events, horizon_before)
        self._maybe_compact()
        return self._snapshot(late_dropped, len(batch))

    @property
    def watermark_ms(self) -> int | None:
        if self._latest_ms is None:
            return None
        return self._latest_ms - self.rules.watermark_ms

    def state_rows(self) -> int:
        """Carried plays plus pending events: the engine's live state, for the batch log."""
        return int((self._users.genre >= 0).sum()) + len(self._pending)

    def to_bytes(self) -> bytes:
        users, pending, names = self._live_state()
        header = {
            "rules": {
                "window_s": self.rules.window_s,
                "watermark_s": self.rules.watermark_s,
                "qualify_rule": self.rules.qualify_rule,
            },
            "latest_ms": self._latest_ms,
            "genres": self._genres,
        }
        tables = [
            users.to_arrow().append_column("user_id", pa.array(names, pa.string())),
            pending.to_arrow(),
            self._trend.to_arrow(),
            pa.table({"all_time": self._all_time}),
        ]
        return _pack(header, tables)

    @classmethod
    def from_bytes(cls, data: bytes, rules: Rules | None = None) -> ChartEngine:
        """Restore an engine; ``rules``, if given, must be those it was saved with."""
        header, (users, pending, trend, all_time) = _unpack(data)
        saved = Rules(**header["rules"])
        if rules is not None and rules != saved:
            raise ValueError(f"engine state was saved with {saved}, not {rules}")
        engine = cls(saved)
        engine._latest_ms = header["latest_ms"]
        engine._genres = list(header["genres"])
        engine._genre_codes = {g: i for i, g in enumerate(engine._genres)}
        names = users.column("user_id").to_numpy(zero_copy_only=False).astype(object)
        engine._directory = _UserDirectory(names)
        engine._users = _Users.from_arrow(users)
        engine._pending = _Events.from_arrow(pending)
        engine._pending.event_id = engine._pending.event_id.astype(object)
        engine._trend = _Trend.from_arrow(trend)
        engine._all_time = all_time.column("all_time").to_numpy().astype(I64)
        return engine

    # ----- ingest -------------------------------------------------------------------------

    def _accepted(self, batch: pd.DataFrame, late_before: int | None) -> tuple[_Events, int]:
        """The batch's events not older than the watermark, coded; and how many were late."""
        event_time = batch["event_time_ms"].to_numpy(dtype=I64)
        late = np.zeros(len(batch), bool) if late_before is None else event_time < late_before
        late_dropped = int(late.sum())
        if late_dropped:
            batch, event_time = batch[~late], event_time[~late]
        rank = _operation_ranks(batch["operation_type"])
        is_start = rank == START
        genre = np.full(len(batch), -1, np.int32)
        genre[is_start] = self._genre_codes_of(batch["genre"].to_numpy(object)[is_start])
        events = _Events(
            user=self._user_codes(batch["user_id"].to_numpy(object)),
            time=event_time,
            rank=rank,
            duration=batch["duration_ms"].to_numpy(dtype=I64),
            genre=genre,
            event_id=batch["event_id"].to_numpy(object),
        )
        return events, late_dropped

    def _genre_codes_of(self, genres: np.ndarray) -> np.ndarray:
        position, names = pd.factorize(genres)
        table = np.array([self._genre_code(str(name)) for name in names], np.int32)
        return table[position] if len(position) else np.zeros(0, np.int32)

    def _genre_code(self, genre: str) -> int:
        code = self._genre_codes.get(genre)
        if code is None:
            code = self._genre_codes[genre] = len(self._genres)
            self._genres.append(genre)
            self._all_time = np.concatenate([self._all_time, np.zeros(1, I64)])
        return code

    def _user_codes(self, user_ids: np.ndarray) -> np.ndarray:
        codes = self._directory.codes(user_ids)
        grown = len(self._directory) - len(self._users)
        if grown:
            self._users = self._users.concat(_Users.blank(grown))
        return codes

    # ----- advance ------------------------------------------------------------------------

    def _advance(self, events: _Events, horizon_before: int | None) -> None:
        assert self._latest_ms is not None
        horizon = _horizon(self._latest_ms - self.rules.watermark_ms)
        work = np.zeros(len(self._users), bool)
        work[events.user] = True
        work |= self._users.wakeup < horizon
        if not work.any():
            return
        rows = self._gather(np.flatnonzero(work), work, events)
        first, last = _user_bounds(rows.user)
        last_of_user = np.zeros(len(rows.user), bool)
        last_of_user[last] = True
        played = replay(rows, last_of_user, self.rules.qualify_rule)
        self._count(rows, played, horizon_before, horizon)
        self._fold(rows, played, first, last, horizon)

    def _gather(self, codes: np.ndarray, work: np.ndarray, events: _Events) -> _Rows:
        """CARRY rows, pending and new events of the re-played users, sorted, ties collapsed."""
        users = self._users.take(codes)
        replayed = work[self._pending.user]
        pending = self._pending.take(replayed)
        self._pending = self._pending.take(~replayed)
        both = pending.concat(events)
        n_carry = len(codes)
        rows = _Rows(
            user=np.concatenate([codes, both.user]),
            time=np.concatenate([users.anchor, both.time]),
            rank=np.concatenate([np.full(n_carry, CARRY, np.int8), both.rank]),
            duration=np.concatenate([users.duration, both.duration]),
            genre=np.concatenate([users.genre, both.genre]),
            listened=np.concatenate([users.listened, np.zeros(len(both), I64)]),
            playing=np.concatenate([users.playing, np.zeros(len(both), bool)]),
            event_id=np.concatenate([np.full(n_carry, None, object), both.event_id]),
        )
        rows = _take_rows(rows, _sort_order(rows.user, rows.time, rows.rank))
        return _take_rows(rows, _collapse_ties(rows))

    def _count(
        self, rows: _Rows, played: _Replay, horizon_before: int | None, horizon: int
    ) -> None:
        """Count the plays whose qualification became final in this batch."""
        newly = played.qualifies & (played.qualified_at <= horizon)
        if horizon_before is not None:
            newly &= played.qualified_at > horizon_before
        if not newly.any():
            self._trend = _prune_trend(self._trend, horizon, self.rules.window_ms)
            return
        genre = rows.genre[played.opener[newly]]
        self._all_time += np.bincount(genre, minlength=len(self._all_time))
        second = -(-played.qualified_at[newly] // SECOND_MS)
        fresh = _Trend(second, genre.astype(np.int32), np.ones(len(second), I64))
        self._trend = _prune_trend(_merge_trend(self._trend, fresh), horizon, self.rules.window_ms)

    def _fold(
        self, rows: _Rows, played: _Replay, first: np.ndarray, last: np.ndarray, horizon: int
    ) -> None:
        """Forget what is final: the state at the horizon becomes each user's carried play."""
        folded = (rows.time < horizon) | (rows.rank == CARRY)  # a prefix of each user's rows
        at = first + np.add.reduceat(folded.astype(I64), first) - 1
        opener = played.opener[at]
        duration = rows.duration[opener]
        listened = played.listened[at] + np.where(played.playing[at], horizon - rows.time[at], 0)
        listened = np.minimum(listened, duration)
        has_play = played.in_play[at] & (listened < duration)
        codes = rows.user[first]
        users = self._users
        users.genre[codes] = np.where(has_play, rows.genre[opener], -1)
        users.duration[codes] = np.where(has_play, duration, 0)
        users.anchor[codes] = horizon
        users.listened[codes] = np.where(has_play, listened, 0)
        users.playing[codes] = has_play & played.playing[at]
        tip_opener = played.opener[last]
        tip_end = rows.time[last] + rows.duration[tip_opener] - played.listened[last]
        users.tip_genre[codes] = rows.genre[tip_opener]
        users.tip_end[codes] = np.where(played.playing[last], tip_end, NOT_LISTENING)
        still_pending = ~folded
        wake = np.where(still_pending, rows.time, NEVER)
        uncounted = played.qualifies & (played.qualified_at > horizon)
        wake = np.minimum(wake, np.where(uncounted, played.qualified_at - 1, NEVER))
        users.wakeup[codes] = np.minimum.reduceat(wake, first)
        keep = np.flatnonzero(still_pending)
        self._pending = self._pending.concat(
            _Events(
                rows.user[keep],
                rows.time[keep],
                rows.rank[keep],
                rows.duration[keep],
                rows.genre[keep],
                rows.event_id[keep],
            )
        )

    # ----- chart --------------------------------------------------------------------------

    def _snapshot(self, late_dropped: int, input_rows: int) -> ChartSnapshot:
        latest = self._latest_ms
        if latest is None:
            return empty_snapshot(late_dropped, input_rows)
        watermark = latest - self.rules.watermark_ms
        horizon = _horizon(watermark)
        listening = self._users.tip_end > latest
        now = np.bincount(self._users.tip_genre[listening], minlength=len(self._genres))
        trending = np.bincount(
            self._trend.genre, weights=self._trend.count, minlength=len(self._genres)
        ).astype(I64)
        return ChartSnapshot(
            now=self._ranked(now),
            trending=self._ranked(trending),
            all_time=self._ranked(self._all_time),
            chart_time_ms=latest,
            watermark_ms=watermark,
            window_start_ms=horizon - self.rules.window_ms,
            window_end_ms=horizon,
            late_dropped=late_dropped,
            input_rows=input_rows,
        )

    def _ranked(self, counts: np.ndarray) -> tuple[tuple[str, int], ...]:
        present = np.flatnonzero(counts)
        return rank_genres({self._genres[i]: int(counts[i]) for i in present})

    # ----- housekeeping -------------------------------------------------------------------

    def _live_users(self) -> np.ndarray:
        """Users with a carried play or pending events; the others can be forgotten."""
        live = self._users.genre >= 0
        live[self._pending.user] = True
        return live

    def _live_state(self) -> tuple[_Users, _Events, np.ndarray]:
        """Users, pending events (renumbered) and names, without forgotten users."""
        live = self._live_users()
        renumber = np.cumsum(live) - 1
        pending = replace(self._pending, user=renumber[self._pending.user])
        return self._users.take(live), pending, self._directory.names[live]

    def _maybe_compact(self) -> None:
        dead = len(self._users) - int(self._live_users().sum())
        if dead > max(self.COMPACT_MIN_DEAD, len(self._users) // 2):
            live = self._live_users()
            self._users, self._pending, _ = self._live_state()
            self._directory.keep(live)


# --------------------------------------------------------------------------------------------
# helpers


def _horizon(watermark_ms: int) -> int:
    return watermark_ms // SECOND_MS * SECOND_MS


def _operation_ranks(operations: pd.Series) -> np.ndarray:
    position, names = pd.factorize(operations)
    unknown = [name for name in names if name not in OPERATION_RANK]
    if unknown:
        raise ValueError(f"unknown operation_type values: {unknown[:5]}")
    table = np.array([OPERATION_RANK[name] for name in names], np.int8)
    return table[position] if len(position) else np.zeros(0, np.int8)


def _user_bounds(user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row index of each user's run in rows sorted by user."""
    starts = np.flatnonzero(np.concatenate([[True], user[1:] != user[:-1]]))
    ends = np.concatenate([starts[1:] - 1, [len(user) - 1]])
    return starts, ends


def _take_rows(rows: _Rows, index: np.ndarray) -> _Rows:
    return _Rows(*(getattr(rows, f.name)[index] for f in fields(rows)))


def _merge_trend(trend: _Trend, fresh: _Trend) -> _Trend:
    both = trend.concat(fresh)
    key = both.second * (1 << 24) + both.genre
    unique, inverse = np.unique(key, return_inverse=True)
    count = np.bincount(inverse, weights=both.count).astype(I64)
    return _Trend(unique >> 24, (unique & ((1 << 24) - 1)).astype(np.int32), count)


def _prune_trend(trend: _Trend, horizon: int, window_ms: int) -> _Trend:
    """Keep the seconds inside ``(horizon - window, horizon]``."""
    oldest = (horizon - window_ms) // SECOND_MS
    return trend.take(trend.second > oldest)


def _pack(header: dict[str, Any], tables: list[pa.Table]) -> bytes:
    out = io.BytesIO()
    head = json.dumps(header).encode()
    out.write(_FORMAT + struct.pack("<I", len(head)) + head)
    for table in tables:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        blob = sink.getvalue()
        out.write(struct.pack("<Q", blob.size))
        out.write(blob)
    return out.getvalue()


def _unpack(data: bytes) -> tuple[dict[str, Any], list[pa.Table]]:
    if not data.startswith(_FORMAT):
        raise ValueError("not a chart engine state (bad magic)")
    offset = len(_FORMAT)
    (head_len,) = struct.unpack_from("<I", data, offset)
    offset += 4
    header = json.loads(data[offset : offset + head_len])
    offset += head_len
    tables = []
    view = memoryview(data)
    while offset < len(data):
        (size,) = struct.unpack_from("<Q", data, offset)
        offset += 8
        tables.append(pa.ipc.open_stream(pa.py_buffer(view[offset : offset + size])).read_all())
        offset += size
    return header, tables
