"""The chart engine the Spark job steps once per micro-batch: ``core.charts``' rules, vectorised.

It computes exactly what ``core.charts.ReferenceCharts`` computes (the property tests in
tests/unit/test_engine_equivalence.py hold it to that), keeping only what can still change:

* per user, the *carried* play: the state at the user's fold point, after every event
  older than the counting horizon (those are final and forgotten, docs/charts.md); and the
  *tip*: the state right after the user's latest event (listeners-now reads it);
* the *pending* events, at or after the fold point, each with the state right after it;
* qualifications seen but not yet final, per-second counts of the trailing window and
  all-time counts.

A batch replays only the users it touches. A user whose new events all come after its
latest one (the usual case) is replayed from its tip; one with an event out of order is
replayed from its carried play through its pending events. Both kinds are replayed together
with numpy group operations (running maxima, cumulative sums): no Python loop per event or
per user. Then the events now older than the counting horizon are folded into the carried
plays. A user's events are replayed about once, however short the trigger.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self, TypeVar

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
    counting_horizon,
)
from bluetrack.processor.frames import ENGINE_READS
from bluetrack.processor.user_keys import KEY_DTYPE, keys_from_columns, keys_to_columns, user_keys
from bluetrack.protocol.columns import distinct

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
    return pd.DataFrame(
        {
            name: np.array([getattr(r, name) for r in records], dtype=dtype)
            for name, dtype in BATCH_DTYPES.items()
        }
    )


I64 = np.int64
I32 = np.int32
NEVER = 2**62  # a threshold never reached, a qualification not expected, an open segment
NO_TIME = -(2**58)  # the tip and carry instant of a user with no event yet
FROM = -1  # rank of the row a user's replay starts from: its tip or its carried play
CLOSE, PAUSE, RESUME, START = 0, 1, 2, 3
assert {CLOSE, PAUSE, RESUME, START} == set(OPERATION_RANK.values())
MAX_PENDING_CHUNKS = 16

_FORMAT = b"BTCE2"  # serialisation: magic, JSON header length, header, Arrow IPC streams


# --------------------------------------------------------------------------------------------
# state containers


@dataclass(slots=True)
class _Columns:
    """Named numpy columns of equal length; subclasses declare them as fields."""

    def take(self, index: np.ndarray) -> Self:
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))

    def concat(self, *others: Self) -> Self:
        parts = (self, *others)
        return type(self)(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(self))
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
    """One row per user code: the carried play and the tip (genre -1: no play)."""

    carry_at: np.ndarray  # int64: the fold point the carried play is the state at
    carry_genre: np.ndarray  # int32
    carry_duration: np.ndarray  # int64
    carry_listened: np.ndarray  # int64
    carry_playing: np.ndarray  # bool
    tip_at: np.ndarray  # int64: time of the user's latest event
    tip_rank: np.ndarray  # int8: its rank (same-millisecond order)
    tip_genre: np.ndarray  # int32: the play right after it
    tip_duration: np.ndarray  # int64
    tip_listened: np.ndarray  # int64
    tip_playing: np.ndarray  # bool
    tip_qualifies_at: np.ndarray  # int64: when the tip's play qualifies if uninterrupted

    @classmethod
    def blank(cls, n: int) -> _Users:
        return cls(
            carry_at=np.full(n, NO_TIME, I64),
            carry_genre=np.full(n, -1, np.int32),
            carry_duration=np.zeros(n, I64),
            carry_listened=np.zeros(n, I64),
            carry_playing=np.zeros(n, bool),
            tip_at=np.full(n, NO_TIME, I64),
            tip_rank=np.full(n, FROM, np.int8),
            tip_genre=np.full(n, -1, np.int32),
            tip_duration=np.zeros(n, I64),
            tip_listened=np.zeros(n, I64),
            tip_playing=np.zeros(n, bool),
            tip_qualifies_at=np.full(n, NEVER, I64),
        )


@dataclass(slots=True)
class _Rows(_Columns):
    """Rows to replay. A FROM row holds a known state (its play's genre, duration, listened
    time and playing flag); an event row holds the event (genre and duration: of a START)."""

    user: np.ndarray  # int64 user code
    time: np.ndarray  # int64
    rank: np.ndarray  # int8
    genre: np.ndarray  # int32
    duration: np.ndarray  # int64
    listened: np.ndarray  # int64, FROM rows only
    playing: np.ndarray  # bool, FROM rows only

    @classmethod
    def events(cls, user: np.ndarray, time: np.ndarray, rank: np.ndarray, **kw: Any) -> _Rows:
        n = len(user)
        return cls(
            user,
            time,
            rank,
            kw.get("genre", np.full(n, -1, np.int32)),
            kw.get("duration", np.zeros(n, I64)),
            np.zeros(n, I64),
            np.zeros(n, bool),
        )


@dataclass(slots=True)
class _Pending(_Columns):
    """Events at or after their user's fold point, with the state right after each."""

    # int32 where values allow (codes, durations up to MAX_TRACK_MS): this is most of the
    # state, so narrow columns mean less memory, copying and checkpoint.
    user: np.ndarray  # int32
    time: np.ndarray  # int64
    rank: np.ndarray  # int8
    genre: np.ndarray  # int32
    duration: np.ndarray  # int32
    play_genre: np.ndarray  # int32, -1: no play after the event
    play_duration: np.ndarray  # int32
    play_listened: np.ndarray  # int32
    play_playing: np.ndarray  # bool

    def as_rows(self) -> _Rows:
        return _Rows.events(
            self.user.astype(I64),
            self.time,
            self.rank,
            genre=self.genre,
            duration=self.duration.astype(I64),
        )


class _PendingStore:
    """Pending events in chunks, one per batch, with tombstones: taking a few users' events
    out does not copy the rest. A chunk is compacted once half dead, dropped once empty."""

    def __init__(self) -> None:
        self._chunks: list[_Pending] = []
        self._alive: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(int(alive.sum()) for alive in self._alive)

    def add(self, rows: _Pending) -> None:
        if len(self._chunks) >= MAX_PENDING_CHUNKS:  # short triggers: keep the loops short
            rows = self.merged().concat(rows)
            self._chunks, self._alive = [], []
        if len(rows):
            self._chunks.append(rows)
            self._alive.append(np.ones(len(rows), bool))

    def take_users(self, chosen: np.ndarray) -> _Pending:
        """Remove and return the events of the users ``chosen`` (a mask over user codes)."""
        return self._take(lambda chunk: chosen[chunk.user])

    def take_before(self, instant: int) -> _Pending:
        """Remove and return the events older than ``instant``."""
        return self._take(lambda chunk: chunk.time < instant)

    def _take(self, select: Callable[[_Pending], np.ndarray]) -> _Pending:
        taken = []
        for i, chunk in enumerate(self._chunks):  # a bounded few chunks
            index = np.flatnonzero(self._alive[i] & select(chunk))
            if len(index):
                taken.append(chunk.take(index))
                self._alive[i][index] = False
        self._compact()
        return _empty(_Pending).concat(*taken)

    def _compact(self) -> None:
        chunks, alive = [], []
        for chunk, mask in zip(self._chunks, self._alive, strict=True):
            live = int(mask.sum())
            if live * 2 < len(mask) and live:
                chunk, mask = chunk.take(mask), np.ones(live, bool)
            if live:
                chunks.append(chunk)
                alive.append(mask)
        self._chunks, self._alive = chunks, alive

    def merged(self) -> _Pending:
        """Every live event, as one table."""
        parts = [c.take(m) for c, m in zip(self._chunks, self._alive, strict=True)]
        return _empty(_Pending).concat(*parts)

    def users(self) -> np.ndarray:
        """The user code of every live event."""
        parts = [c.user[m] for c, m in zip(self._chunks, self._alive, strict=True)]
        return np.concatenate([np.zeros(0, I64), *parts])

    def renumber(self, new_codes: np.ndarray) -> None:
        for chunk in self._chunks:
            chunk.user = new_codes[chunk.user].astype(I32)


@dataclass(slots=True)
class _Qualified(_Columns):
    """Qualifications already certain except for being final (after the horizon)."""

    user: np.ndarray
    at: np.ndarray
    genre: np.ndarray


@dataclass(slots=True)
class _Trend(_Columns):
    """Qualified plays per (second, genre); the second ``k`` covers ``(k-1 s, k s]``."""

    second: np.ndarray  # int64
    genre: np.ndarray  # int32
    count: np.ndarray  # int64


C = TypeVar("C", bound=_Columns)


def _empty(kind: type[C]) -> C:
    dtypes = {
        _Pending: (I32, I64, np.int8, I32, I32, I32, I32, I32, bool),
        _Qualified: (I64, I64, np.int32),
        _Trend: (I64, np.int32, I64),
    }[kind]
    return kind(*(np.zeros(0, d) for d in dtypes))


class _UserDirectory:
    """User key (``user_keys``) -> dense code, in vectorised lookups.

    A hash index over all keys costs ~60 ms to rebuild at 1M users, so keys added since the
    last rebuild live in a small second index; the big one is rebuilt when that grows past
    a quarter.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self._index_all(keys)

    def _index_all(self, keys: np.ndarray) -> None:
        self.keys = keys
        self._base = pd.Index(keys)
        self._recent = pd.Index(keys[:0])

    def __len__(self) -> int:
        return len(self.keys)

    def codes(self, keys: np.ndarray) -> np.ndarray:
        codes: np.ndarray = self._base.get_indexer(keys).astype(I64)
        missing = np.flatnonzero(codes < 0)
        if len(missing):
            codes[missing] = self._recent_codes(keys[missing])
        return codes

    def _recent_codes(self, keys: np.ndarray) -> np.ndarray:
        found = self._recent.get_indexer(keys).astype(I64)
        codes = np.where(found >= 0, found + len(self._base), -1)
        unknown = found < 0
        if unknown.any():
            position, new_keys = pd.factorize(keys[unknown])
            codes[unknown] = len(self.keys) + position
            self.keys = np.concatenate([self.keys, np.asarray(new_keys, KEY_DTYPE)])
            self._reindex()
        return codes

    def _reindex(self) -> None:
        recent = self.keys[len(self._base) :]
        if len(recent) > max(65_536, len(self._base) // 4):
            self._base = pd.Index(self.keys)
            recent = self.keys[:0]
        self._recent = pd.Index(recent)

    def keep(self, mask: np.ndarray) -> None:
        """Forget the users not in ``mask``; the kept ones are renumbered in order."""
        self._index_all(self.keys[mask])


# --------------------------------------------------------------------------------------------
# replay: every replayed user at once


@dataclass(slots=True)
class _Replay:
    """Each row's play right after the row, from the group operations in ``replay``."""

    in_play: np.ndarray  # the row belongs to an open play
    playing: np.ndarray  # ... which is playing (not paused) after the row
    opener: np.ndarray  # row index of the play's START / FROM row
    listened: np.ndarray  # the play's listened time at the row's instant
    qualifies: np.ndarray  # the play reaches its threshold in the segment after the row
    qualified_at: np.ndarray  # ... at this instant

    def play_genre(self, rows: _Rows) -> np.ndarray:
        return np.where(self.in_play, rows.genre[self.opener], -1).astype(np.int32)

    def play_duration(self, rows: _Rows) -> np.ndarray:
        return np.where(self.in_play, rows.duration[self.opener], 0)


def _sort_order(user: np.ndarray, time_: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Order by (user, time, rank), FROM rows first; one packed argsort when ranges allow."""
    user = user.astype(I64, copy=False)
    is_from = rank == FROM
    event_time = time_[~is_from]
    low = int(event_time.min()) - 1 if len(event_time) else 0
    sort_time = np.where(is_from, low, time_) - low
    time_bits = max(int(sort_time.max()).bit_length(), 1) if len(sort_time) else 1
    user_bits = max(int(user.max()).bit_length(), 1) if len(user) else 1
    if user_bits + time_bits + 3 <= 63:
        key = (user << (time_bits + 3)) | (sort_time << 3) | (rank.astype(I64) + 1)
        return np.argsort(key, kind="stable")
    order: np.ndarray = np.lexsort((rank, sort_time, user))
    return order


def _collapse_ties(rows: _Rows, genre_order: np.ndarray) -> np.ndarray | None:
    """Rows to keep of same-(user, time, rank) ties (None: no ties); docs/charts.md.

    Copies of one event, and simultaneous closes, pauses or resumes, act as one. Of
    simultaneous starts the others last 0 ms, so only the one that wins matters: the
    greatest genre name, then the longest track (``genre_order``: code -> name order).
    """
    n = len(rows)
    if n < 2:
        return None
    same = (
        (rows.user[1:] == rows.user[:-1])
        & (rows.time[1:] == rows.time[:-1])
        & (rows.rank[1:] == rows.rank[:-1])
    )
    if not same.any():
        return None
    keep = np.ones(n, bool)
    keep[1:] = ~same
    tied = np.zeros(n, bool)
    tied[1:] |= same
    tied[:-1] |= same
    tied_starts = np.flatnonzero(tied & (rows.rank == START))
    if len(tied_starts):
        group = np.cumsum(keep)
        by_group = tied_starts[
            np.lexsort(
                (
                    rows.duration[tied_starts],
                    genre_order[rows.genre[tied_starts]],
                    group[tied_starts],
                )
            )
        ]
        sorted_group = group[by_group]
        last_in_group = np.concatenate([sorted_group[1:] != sorted_group[:-1], [True]])
        keep[tied_starts] = False
        keep[by_group[last_in_group]] = True
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
    """Every replayed user's plays at once, with group operations instead of a loop.

    ``rows`` are grouped by user, each group sorted and starting with its FROM row. A play
    opens at a START (or a FROM row with a play) and closes at the next START or closing
    event. Between consecutive rows it listens iff it was playing after the first; its
    listened time is the running sum of those stretches, clamped at the track's duration.
    """
    is_from = rows.rank == FROM
    opens = (rows.rank == START) | (is_from & (rows.genre >= 0))
    closes = (rows.rank == CLOSE) | (is_from & (rows.genre < 0))
    opener = _running_last(opens)
    in_play = opener > _running_last(closes)
    opener = np.where(in_play, opener, 0)
    playing = in_play & ((rows.rank == START) | (rows.rank == RESUME) | (is_from & rows.playing))
    duration = rows.duration[opener]
    next_time = np.empty_like(rows.time)
    next_time[:-1] = rows.time[1:]
    segment = np.where(last_of_user, NEVER, next_time - rows.time)
    # Clamping each stretch at the duration keeps the sums small and the result unchanged.
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


def _user_bounds(user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row index of each user's run in rows grouped by user."""
    starts = np.flatnonzero(np.concatenate([[True], user[1:] != user[:-1]]))
    ends = np.concatenate([starts[1:] - 1, [len(user) - 1]])
    return starts, ends


# --------------------------------------------------------------------------------------------
# the engine


class ChartEngine:
    """Steps one micro-batch at a time; state as numpy arrays, serialisable between batches."""

    COMPACT_MIN_DEAD: ClassVar[int] = 65_536

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._genres: list[str] = []
        self._genre_codes: dict[str, int] = {}
        self._directory = _UserDirectory(np.zeros(0, KEY_DTYPE))
        self._users = _Users.blank(0)
        self._pending = _PendingStore()
        self._qualified: _Qualified = _empty(_Qualified)
        self._trend: _Trend = _empty(_Trend)
        self._all_time = np.zeros(0, I64)
        self._latest_ms: int | None = None

    # ----- public API ---------------------------------------------------------------------

    def step(self, batch: pa.Table | pd.DataFrame, batch_id: int) -> ChartSnapshot:
        """Accept one micro-batch (duplicates and late events included) and chart it.

        The batch is Arrow (as the sink pulls it) or pandas (tests, tools), with at least
        ``frames.ENGINE_READS``; strings stay in Arrow (``user_keys``)."""
        del batch_id  # the state depends only on the batches' contents, in order
        if isinstance(batch, pd.DataFrame):
            batch = pa.Table.from_pandas(batch[list(ENGINE_READS)], preserve_index=False)
        late_before = self.watermark_ms
        events, late_dropped = self._accepted(batch, late_before)
        if len(events):
            latest = int(events.time.max())
            self._latest_ms = latest if self._latest_ms is None else max(self._latest_ms, latest)
        watermark = self.watermark_ms
        if watermark is not None:
            before = None if late_before is None else counting_horizon(late_before)
            horizon = counting_horizon(watermark)
            if len(events):
                self._replay_touched(events, before, horizon)
            self._count_due(before, horizon)
            self._fold(horizon)
            self._maybe_compact()
        return self._snapshot(late_dropped, len(batch))

    @property
    def watermark_ms(self) -> int | None:
        if self._latest_ms is None:
            return None
        return self._latest_ms - self.rules.watermark_ms

    def state_rows(self) -> int:
        """Carried plays plus pending events: the engine's live state, for the batch log."""
        return int((self._users.carry_genre >= 0).sum()) + len(self._pending)

    def to_bytes(self) -> bytes:
        """The whole state: compact (numeric columns, Arrow IPC, zstd) and deterministic."""
        header = {
            "rules": {
                "window_s": self.rules.window_s,
                "watermark_s": self.rules.watermark_s,
                "qualify_rule": self.rules.qualify_rule,
            },
            "latest_ms": self._latest_ms,
            "genres": self._genres,
        }
        users = self._users.to_arrow()
        for name, column in keys_to_columns(self._directory.keys).items():
            users = users.append_column(name, pa.array(column, pa.int64()))
        pending = self._pending.merged()
        tables = [
            users,
            pending.to_arrow(),
            self._qualified.to_arrow(),
            self._trend.to_arrow(),
            pa.table({"all_time": self._all_time}),
        ]
        return _pack(header, tables)

    @classmethod
    def from_bytes(cls, data: bytes, rules: Rules | None = None) -> ChartEngine:
        """Restore an engine; ``rules``, if given, must be those it was saved with."""
        header, (users, pending, qualified, trend, all_time) = _unpack(data)
        saved = Rules(**header["rules"])
        if rules is not None and rules != saved:
            raise ValueError(f"engine state was saved with {saved}, not {rules}")
        engine = cls(saved)
        engine._latest_ms = header["latest_ms"]
        engine._genres = list(header["genres"])
        engine._genre_codes = {g: i for i, g in enumerate(engine._genres)}
        engine._directory = _UserDirectory(_saved_keys(users))
        engine._users = _Users.from_arrow(users)
        restored = _Pending.from_arrow(pending)
        engine._pending.add(restored)
        engine._qualified = _Qualified.from_arrow(qualified)
        engine._trend = _Trend.from_arrow(trend)
        engine._all_time = all_time.column("all_time").to_numpy().astype(I64)
        return engine

    # ----- ingest -------------------------------------------------------------------------

    def _accepted(self, batch: pa.Table, late_before: int | None) -> tuple[_Rows, int]:
        """The batch's events not older than the watermark, coded; and how many were late."""
        event_time = batch.column("event_time_ms").to_numpy().astype(I64, copy=False)
        late = np.zeros(len(batch), bool) if late_before is None else event_time < late_before
        late_dropped = int(late.sum())
        if late_dropped:
            batch, event_time = batch.filter(pa.array(~late)), event_time[~late]
        rank = _operation_ranks(batch.column("operation_type"))
        is_start = rank == START
        genre = np.full(len(batch), -1, np.int32)
        genre[is_start] = self._genre_codes_of(batch.column("genre").filter(pa.array(is_start)))
        events = _Rows.events(
            self._user_codes(user_keys(batch.column("user_id"))),
            event_time,
            rank,
            genre=genre,
            duration=batch.column("duration_ms").to_numpy().astype(I64, copy=False),
        )
        return events, late_dropped

    def _genre_codes_of(self, genres: pa.ChunkedArray) -> np.ndarray:
        names, position = distinct(genres)
        table = np.array([self._genre_code(str(name)) for name in names], np.int32)
        return table[position] if len(position) else np.zeros(0, np.int32)

    def _genre_code(self, genre: str) -> int:
        code = self._genre_codes.get(genre)
        if code is None:
            code = self._genre_codes[genre] = len(self._genres)
            self._genres.append(genre)
            self._all_time = np.concatenate([self._all_time, np.zeros(1, I64)])
        return code

    def _genre_order(self) -> np.ndarray:
        """Genre code -> position of its name in name order (for ties between starts)."""
        order = np.empty(len(self._genres), I64)
        order[np.argsort(np.array(self._genres, dtype=object))] = np.arange(len(self._genres))
        return order

    def _user_codes(self, keys: np.ndarray) -> np.ndarray:
        codes = self._directory.codes(keys)
        grown = len(self._directory) - len(self._users)
        if grown:
            self._users = self._users.concat(_Users.blank(grown))
        return codes

    # ----- replay -------------------------------------------------------------------------

    def _replay_touched(self, events: _Rows, before: int | None, horizon: int) -> None:
        """Replay the users with new events; record their pending events, tips, qualifications."""
        events = events.take(_sort_order(events.user, events.time, events.rank))
        first, _ = _user_bounds(events.user)
        codes = events.user[first]
        u = self._users
        first_time, tip_at = events.time[first], u.tip_at[codes]
        out_of_order = (first_time < tip_at) | (
            (first_time == tip_at) & (events.rank[first] <= u.tip_rank[codes])
        )
        run = np.repeat(out_of_order, np.diff(np.append(first, len(events))))
        rows = self._rows_from_tips(events.take(~run)).concat(
            self._rows_from_carry(events.take(run), codes[out_of_order])
        )
        keep = _collapse_ties(rows, self._genre_order())
        if keep is not None:
            rows = rows.take(keep)
        first, last = _user_bounds(rows.user)
        last_of_user = np.zeros(len(rows), bool)
        last_of_user[last] = True
        played = replay(rows, last_of_user, self.rules.qualify_rule)
        self._settle_qualifications(rows, played, last_of_user, before, horizon)
        self._record(rows, played, last)

    def _rows_from_tips(self, events: _Rows) -> _Rows:
        """In-order users: a FROM row with the tip's state, then the new events."""
        if not len(events):
            return events
        first, _ = _user_bounds(events.user)
        codes = events.user[first]
        u = self._users
        start = _Rows(
            codes,
            u.tip_at[codes],
            np.full(len(codes), FROM, np.int8),
            u.tip_genre[codes],
            u.tip_duration[codes],
            u.tip_listened[codes],
            u.tip_playing[codes],
        )
        # Each user's FROM row goes just before its first event: event i moves down by the
        # number of users whose run starts at or before it.
        shift = np.zeros(len(events), I64)
        shift[first] = 1
        event_at = np.arange(len(events)) + np.cumsum(shift)
        from_at = first + np.arange(len(first))
        merged = []
        for f in fields(_Rows):
            column = np.empty(len(events) + len(first), getattr(events, f.name).dtype)
            column[event_at] = getattr(events, f.name)
            column[from_at] = getattr(start, f.name)
            merged.append(column)
        return _Rows(*merged)

    def _rows_from_carry(self, events: _Rows, codes: np.ndarray) -> _Rows:
        """Users with an event out of order: FROM the carried play, pending and new events."""
        if not len(codes):
            return events
        chosen = np.zeros(len(self._users), bool)
        chosen[codes] = True
        pending = self._pending.take_users(chosen)
        self._qualified = self._qualified.take(~chosen[self._qualified.user])
        u = self._users
        start = _Rows(
            codes,
            u.carry_at[codes],
            np.full(len(codes), FROM, np.int8),
            u.carry_genre[codes],
            u.carry_duration[codes],
            u.carry_listened[codes],
            u.carry_playing[codes],
        )
        rows = start.concat(pending.as_rows(), events)
        return rows.take(_sort_order(rows.user, rows.time, rows.rank))

    def _settle_qualifications(
        self,
        rows: _Rows,
        played: _Replay,
        last_of_user: np.ndarray,
        before: int | None,
        horizon: int,
    ) -> None:
        """Count qualifications final now; keep later ones; note each tip's projected one.

        A qualification before a user's latest event is certain (only its finality waits for
        the horizon); one after it is a projection that the next event may cut short.
        """
        at = played.qualified_at
        genre = rows.genre[played.opener]
        certain = played.qualifies & ~last_of_user
        due = certain & (at <= horizon)
        if before is not None:
            due &= at > before
        self._count(at[due], genre[due])
        later = certain & (at > horizon)
        if later.any():
            self._qualified = self._qualified.concat(
                _Qualified(rows.user[later], at[later], genre[later])
            )
        tips = np.flatnonzero(last_of_user)
        self._users.tip_qualifies_at[rows.user[tips]] = at[tips]

    def _record(self, rows: _Rows, played: _Replay, last: np.ndarray) -> None:
        """Store the replayed events as pending, each with its state, and the new tips."""
        play_genre, play_duration = played.play_genre(rows), played.play_duration(rows)
        events = np.flatnonzero(rows.rank != FROM)
        self._pending.add(
            _Pending(
                rows.user[events].astype(I32),
                rows.time[events],
                rows.rank[events],
                rows.genre[events],
                rows.duration[events].astype(I32),
                play_genre[events],
                play_duration[events].astype(I32),
                played.listened[events].astype(I32),
                played.playing[events],
            )
        )
        codes = rows.user[last]
        u = self._users
        u.tip_at[codes] = rows.time[last]
        u.tip_rank[codes] = rows.rank[last]
        u.tip_genre[codes] = play_genre[last]
        u.tip_duration[codes] = play_duration[last]
        u.tip_listened[codes] = played.listened[last]
        u.tip_playing[codes] = played.playing[last]

    # ----- what becomes final -------------------------------------------------------------

    def _count_due(self, before: int | None, horizon: int) -> None:
        """Count the kept and the projected qualifications the horizon has now passed."""
        due = self._qualified.at <= horizon
        if due.any():
            self._count(self._qualified.at[due], self._qualified.genre[due])
            self._qualified = self._qualified.take(~due)
        u = self._users
        projected = u.tip_qualifies_at <= horizon
        if before is not None:
            projected &= u.tip_qualifies_at > before
        if projected.any():
            self._count(u.tip_qualifies_at[projected], u.tip_genre[projected])
        oldest = (horizon - self.rules.window_ms) // SECOND_MS
        self._trend = self._trend.take(self._trend.second > oldest)

    def _count(self, at: np.ndarray, genre: np.ndarray) -> None:
        if not len(at):
            return
        self._all_time += np.bincount(genre, minlength=len(self._all_time))
        second = -(-at // SECOND_MS)
        fresh = _Trend(second, genre.astype(np.int32), np.ones(len(second), I64))
        self._trend = _merge_trend(self._trend, fresh)

    def _fold(self, horizon: int) -> None:
        """Events older than the horizon are final: fold them into the carried plays."""
        old = self._pending.take_before(horizon)
        if not len(old):
            return
        old = old.take(_sort_order(old.user, old.time, old.rank))
        _, last = _user_bounds(old.user)
        latest = old.take(last)  # each user's last final event, with the state after it
        elapsed = np.where(latest.play_playing, horizon - latest.time, 0)
        listened = np.minimum(latest.play_listened + elapsed, latest.play_duration)
        has_play = (latest.play_genre >= 0) & (listened < latest.play_duration)
        codes = latest.user
        u = self._users
        u.carry_at[codes] = horizon
        u.carry_genre[codes] = np.where(has_play, latest.play_genre, -1)
        u.carry_duration[codes] = np.where(has_play, latest.play_duration, 0)
        u.carry_listened[codes] = np.where(has_play, listened, 0)
        u.carry_playing[codes] = has_play & latest.play_playing

    # ----- chart --------------------------------------------------------------------------

    def _snapshot(self, late_dropped: int, input_rows: int) -> ChartSnapshot:
        latest = self._latest_ms
        if latest is None:
            return empty_snapshot(late_dropped, input_rows)
        watermark = latest - self.rules.watermark_ms
        horizon = counting_horizon(watermark)
        u = self._users
        natural_end = u.tip_at + u.tip_duration - u.tip_listened
        listening = u.tip_playing & (natural_end > latest)
        now = np.bincount(u.tip_genre[listening], minlength=len(self._genres))
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

    def _maybe_compact(self) -> None:
        """Forget users with no carried play and no pending event, once they are many.

        Their tip can matter no more (every event of theirs is final), so a returning user
        starts blank, which is the same.
        """
        live = self._users.carry_genre >= 0
        threshold = max(self.COMPACT_MIN_DEAD, len(live) // 2)
        if len(live) - int(live.sum()) <= threshold:  # dead ones are fewer still
            return
        live[self._qualified.user] = True  # (implied by the carried play; kept for safety)
        live[self._pending.users()] = True
        if len(live) - int(live.sum()) <= threshold:
            return
        renumber = np.cumsum(live) - 1
        self._pending.renumber(renumber)
        self._qualified.user = renumber[self._qualified.user]
        self._users = self._users.take(live)
        self._directory.keep(live)


# --------------------------------------------------------------------------------------------
# helpers


def _operation_ranks(operations: pa.ChunkedArray) -> np.ndarray:
    names, position = distinct(operations)
    unknown = [name for name in names if name not in OPERATION_RANK]
    if unknown:
        raise ValueError(f"unknown operation_type values: {unknown[:5]}")
    table = np.array([OPERATION_RANK[name] for name in names], np.int8)
    return table[position] if len(position) else np.zeros(0, np.int8)


def _saved_keys(users: pa.Table) -> np.ndarray:
    """The user keys of a saved state (states saved before keys held the ids themselves)."""
    if "user_id" in users.column_names:
        return user_keys(users.column("user_id"))
    return keys_from_columns(
        users.column("user_key_a").to_numpy(), users.column("user_key_b").to_numpy()
    )


def _merge_trend(trend: _Trend, fresh: _Trend) -> _Trend:
    both = trend.concat(fresh)
    key = both.second * (1 << 24) + both.genre
    unique, inverse = np.unique(key, return_inverse=True)
    count = np.bincount(inverse, weights=both.count).astype(I64)
    return _Trend(unique >> 24, (unique & ((1 << 24) - 1)).astype(np.int32), count)


def _pack(header: dict[str, Any], tables: list[pa.Table]) -> bytes:
    head = json.dumps(header).encode()
    parts: list[Any] = [_FORMAT, struct.pack("<I", len(head)), head]
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    for table in tables:
        table = table.combine_chunks()  # one record batch each: the same state, same bytes
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        blob = sink.getvalue()
        parts += [struct.pack("<Q", blob.size), blob]
    return b"".join(parts)


def _unpack(data: bytes) -> tuple[dict[str, Any], list[pa.Table]]:
    if not data.startswith(_FORMAT):
        raise ValueError("not a chart engine state of this version (bad magic)")
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
