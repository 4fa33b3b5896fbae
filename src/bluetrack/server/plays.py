"""Verifying play events in batches: the server's hot path (target: 50k events/s/process).

An event is accepted only if it comes from a live session, names that session's own user,
carries a valid MAC under the session's play key, names a known track with one of ITS
genres and its real duration, has sane times, and was not seen before. Accepted events
become rows of columnar frames of ``AcceptedPlay`` (the stream processor's only input) plus
listening-history entries; everything else becomes a dead letter with the reason.

Speed comes from doing per batch what can be done per batch. By default (``columnar``) the
batch's plainly valid events are parsed together in one Arrow call and their rules checked
as columns (``play_columns``: Python once per distinct session, track and genre, and once
per event only for the HMAC); the accepted ones stay an Arrow table through to the frames.
Every other event, and any that breaks a rule, takes the per-event path (``play_wire``:
decoding, signing bytes and accepted plays done by hand for well-formed events, pinned to
the protocol by tests), which gives the dead letter its code and reason. A property test
requires both paths to decide alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any, NamedTuple, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from bluetrack.bus.assign import key_partition
from bluetrack.bus.dead_letter import dead_letter_for
from bluetrack.core.replay import ReplayGuard
from bluetrack.core.validation import TimeRules, Violation, check_duration, check_event_times
from bluetrack.protocol.codec import encode
from bluetrack.protocol.columns import distinct, python_values
from bluetrack.protocol.envelope import SCHEMA_VERSION, utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import COLUMNS, MAX_FRAME_PLAYS, columnar_frame
from bluetrack.protocol.topics import Topic
from bluetrack.server.context import TrackIndex
from bluetrack.server.outcome import Outgoing
from bluetrack.server.play_columns import Plain, plainly_valid, rules_hold
from bluetrack.server.play_wire import (
    AcceptedRow,
    Play,
    accepted_row,
    decode_play,
    mac_ok,
    wire_time,
)
from bluetrack.server.session_cache import SessionCache
from bluetrack.store.history import HistoryEntry

COMPONENT = "server"
ACCEPTED_SCHEMA = pa.schema(
    [(name, pa.int64() if name == "duration_ms" else pa.string()) for name in AcceptedRow._fields]
)
_T = TypeVar("_T")


class ConsumedMessage(Protocol):
    """The parts of a consumed Kafka message we use (confluent_kafka.Message or a fake)."""

    def topic(self) -> str | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


class Frame(NamedTuple):
    """One record for the accepted topic: a frame of plays for one partition."""

    partition: int
    value: bytes


@dataclass
class PlayBatch:
    """What verifying a batch decided: accepted plays (in consumed order), dead letters."""

    outgoing: list[Outgoing] = field(default_factory=list)  # dead letters
    rejected: int = 0
    # Accepted plainly valid events, as columns (see ``take_plain``) ...
    _plain: pa.Table = field(default_factory=lambda: ACCEPTED_SCHEMA.empty_table())
    _plain_at: list[int] = field(default_factory=list)  # their positions in the batch
    _plain_ids: list[str] = field(default_factory=list)
    _plain_now: datetime | None = None
    # ... and events accepted one by one: (position, row, history entry).
    _each: list[tuple[int, AcceptedRow, HistoryEntry]] = field(default_factory=list)

    def take_plain(
        self,
        plain: Plain,
        rows: list[int],
        ids: list[str],
        positions: list[int],
        accepted_at: str,
        now: datetime,
    ) -> None:
        """Accept ``rows`` of ``plain`` (event ids ``ids``, at ``positions`` in the batch)."""
        taken = pa.array(rows, pa.int64())
        table = plain.table.take(taken).select(list(ACCEPTED_SCHEMA.names[:-1]))
        accepted = pa.array([accepted_at] * len(rows), pa.string())
        self._plain = table.append_column("accepted_at", accepted).cast(ACCEPTED_SCHEMA)
        self._plain_at = positions
        self._plain_ids = ids
        self._plain_now = now

    def take_one(self, position: int, row: AcceptedRow, entry: HistoryEntry) -> None:
        self._each.append((position, row, entry))

    @property
    def accepted(self) -> int:
        return len(self._plain_ids) + len(self._each)

    @property
    def accepted_ids(self) -> list[str]:
        """Forget these if the batch is retried."""
        return self._in_order(self._plain_ids, [row.event_id for _, row, _ in self._each])

    @property
    def history(self) -> list[HistoryEntry]:
        plain = _history_of(self._plain, self._plain_now) if self._plain_now else []
        return self._in_order(plain, [entry for _, _, entry in self._each])

    def accepted_table(self) -> pa.Table:
        """The accepted plays' ``AcceptedRow`` columns, in consumed order."""
        if not self._each:
            return self._plain
        each = rows_table([row for _, row, _ in self._each])
        order = np.argsort(self._plain_at + [at for at, _, _ in self._each], kind="stable")
        return pa.concat_tables([self._plain, each]).take(order)

    @property
    def accepted_rows(self) -> list[AcceptedRow]:
        table = self.accepted_table()
        return [AcceptedRow(**row) for row in table.to_pylist()]

    def _in_order(self, plain: list[_T], each: list[_T]) -> list[_T]:
        if not each:
            return plain
        positions = self._plain_at + [at for at, _, _ in self._each]
        return [item for _, item in sorted(zip(positions, plain + each, strict=True))]


class _TimeWindow(NamedTuple):
    """Event times the rules allow in this batch (``check_event_times`` explains the rest)."""

    earliest: datetime
    latest: datetime


class _Refused(Exception):
    """Internal: one event failed one rule."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class PlayVerifier:
    def __init__(
        self,
        sessions: SessionCache,
        tracks: TrackIndex,
        rules: TimeRules,
        *,
        now: Callable[[], datetime] = utc_now,
        seen: ReplayGuard | None = None,
        columnar: bool = True,
    ) -> None:
        self._sessions = sessions
        self._tracks = tracks
        self._rules = rules
        self._now = now
        self.columnar = columnar  # read batches as columns (False: one event at a time)
        # A replay older than max_event_age is refused by the time rules, so the guard only
        # needs to remember ids that long (plus the skew an event may be ahead by).
        self.seen = seen or ReplayGuard(
            (rules.max_event_age + rules.clock_skew).total_seconds(), buckets=12
        )

    def use_tracks(self, tracks: TrackIndex) -> None:
        """Check plays against a newly loaded catalogue from the next batch on."""
        self._tracks = tracks

    def verify_batch(self, messages: Sequence[ConsumedMessage]) -> PlayBatch:
        if not self.columnar:
            return self._verify_each(messages)
        return self._verify_columns(messages)

    def _verify_each(self, messages: Sequence[ConsumedMessage]) -> PlayBatch:
        """The per-event path: decode, then verify, one event at a time."""
        batch = PlayBatch()
        decoded: list[tuple[int, ConsumedMessage, Play]] = []
        for position, msg in enumerate(messages):
            try:
                decoded.append((position, msg, decode_play(msg.value())))
            except DecodeError as exc:
                self._refuse(batch, msg, exc.code, str(exc))
        now = self._now()
        self._sessions.refresh({play.session_id for _, _, play in decoded}, now)
        window = _TimeWindow(now - self._rules.max_event_age, now + self._rules.clock_skew)
        accepted_at = wire_time(now)
        for position, msg, play in decoded:
            self._verify_one(batch, msg, play, now, window, accepted_at, position)
        return batch

    def _verify_columns(self, messages: Sequence[ConsumedMessage]) -> PlayBatch:
        """The per-event path's decisions, in its order, with the plainly valid events read
        and checked as columns (``play_columns``). An event that breaks any rule is verified
        again by ``_verify``, which says which and why."""
        values = [msg.value() for msg in messages]
        plain = plainly_valid(values)
        row_at = [-1] * len(messages)  # position in the batch -> row of ``plain`` (or -1)
        for row, position in enumerate(plain.index):
            row_at[position] = row
        batch = PlayBatch()
        decoded: dict[int, Play] = {}  # the other events, decoded one by one
        for position, row in enumerate(row_at):
            if row < 0:
                try:
                    decoded[position] = decode_play(values[position])
                except DecodeError as exc:
                    self._refuse(batch, messages[position], exc.code, str(exc))
        now = self._now()
        session_ids = plain.table.column("session_id").unique().to_pylist()
        self._sessions.refresh({*session_ids, *(p.session_id for p in decoded.values())}, now)
        window = _TimeWindow(now - self._rules.max_event_age, now + self._rules.clock_skew)
        accepted_at = wire_time(now)
        # The window as wire text: times on the wire are whole ms, and their text sorts as
        # the times do.
        wire_window = (_ms_ceil(window.earliest), wire_time(window.latest.astimezone(UTC)))
        holds = rules_hold(plain, self._sessions.get, self._tracks.get, now, wire_window)
        ids = plain.column("event_id")
        seen = self.seen
        if len(plain.index) == len(messages) and holds.all() and _all_new(ids, seen):
            taken = list(range(len(ids)))  # the common case: every event accepted
        else:
            taken = self._in_order(
                batch, messages, values, row_at, decoded, holds, ids, now, window, accepted_at
            )
        taken_ids = [ids[row] for row in taken]
        batch.take_plain(plain, taken, taken_ids, [plain.index[r] for r in taken], accepted_at, now)
        seen.remember_many(taken_ids)
        return batch

    def _in_order(
        self,
        batch: PlayBatch,
        messages: Sequence[ConsumedMessage],
        values: list[bytes | None],
        row_at: list[int],
        decoded: dict[int, Play],
        holds: np.ndarray,
        ids: list[str],
        now: datetime,
        window: _TimeWindow,
        accepted_at: str,
    ) -> list[int]:
        """Go through the batch in order: a plain event that keeps the rules and is new is
        taken (its row returned); any other goes through ``_verify_one``."""
        seen, taken = self.seen, []
        # Ids taken here and not yet told to the replay guard (told before any event goes
        # through ``_verify``, which asks the guard).
        fresh: set[str] = set()
        holding = holds.tolist()
        for position, row in enumerate(row_at):
            if row >= 0:
                event_id = ids[row]
                if holding[row] and event_id not in fresh and not seen.seen(event_id):
                    fresh.add(event_id)
                    taken.append(row)
                    continue
                play = decode_play(values[position])  # some rule is broken: find which
            elif position in decoded:
                play = decoded[position]
            else:
                continue  # refused when decoded
            seen.remember_many(fresh)
            fresh.clear()
            self._verify_one(batch, messages[position], play, now, window, accepted_at, position)
        return taken

    def _verify_one(
        self,
        batch: PlayBatch,
        msg: ConsumedMessage,
        play: Play,
        now: datetime,
        window: _TimeWindow,
        accepted_at: str,
        position: int,
    ) -> None:
        try:
            self._verify(play, now, window)
        except _Refused as exc:
            self._refuse(batch, msg, exc.code, str(exc))
            return
        self._accept(batch, play, now, accepted_at, position)

    def _verify(self, play: Play, now: datetime, window: _TimeWindow) -> None:
        """Raise _Refused for the first broken rule."""
        session = self._sessions.get(play.session_id)
        if session is None:
            raise _Refused(ErrorCode.INVALID_SESSION, "no such session")
        if session.expires_at <= now:
            raise _Refused(ErrorCode.SESSION_EXPIRED, "the session has expired")
        if play.user_id != session.user_id:
            raise _Refused(ErrorCode.FORGED_EVENT, "the event names another user than its session")
        if not mac_ok(session.play_key, play):
            raise _Refused(ErrorCode.FORGED_EVENT, "the event's MAC does not verify")
        track = self._tracks.get(play.track_id)
        if track is None:
            raise _Refused(ErrorCode.UNKNOWN_TRACK, f"no track {play.track_id!r} in the catalogue")
        if play.genre not in track.genres:
            raise _Refused(
                ErrorCode.GENRE_MISMATCH, f"{play.genre!r} is not a genre of {play.track_id}"
            )
        # The rules' own check (and its message) only for an event outside the window.
        if not window.earliest <= play.event_time <= window.latest or (
            play.start_time > play.event_time
        ):
            _raise_if(check_event_times(play.start_time, play.event_time, now, self._rules))
        _raise_if(check_duration(play.duration_ms, track.duration_ms))
        if self.seen.seen(play.event_id):
            raise _Refused(ErrorCode.DUPLICATE_EVENT, "this event id was already accepted")

    def _accept(
        self, batch: PlayBatch, play: Play, now: datetime, accepted_at: str, position: int
    ) -> None:
        self.seen.remember(play.event_id)
        batch.take_one(
            position,
            accepted_row(play, accepted_at),
            HistoryEntry(
                event_id=play.event_id,
                user_id=play.user_id,
                track_id=play.track_id,
                genre=play.genre,
                operation_type=play.operation_type,
                start_time=play.start_time,
                event_time=play.event_time,
                duration_ms=play.duration_ms,
                accepted_at=now,
            ),
        )

    def _refuse(self, batch: PlayBatch, msg: ConsumedMessage, code: ErrorCode, reason: str) -> None:
        batch.rejected += 1
        letter = dead_letter_for(
            COMPONENT,
            msg.topic() or Topic.SONGS_TRACKER,
            msg.value(),
            code,
            reason,
            partition=msg.partition(),
            offset=msg.offset(),
            key=msg.key(),
        )
        batch.outgoing.append(Outgoing(Topic.DEAD_LETTER, letter.source_topic, encode(letter)))


def _ms_ceil(value: datetime) -> str:
    """The earliest wire time (whole ms, UTC) not before ``value``."""
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return wire_time(value)


def _raise_if(violation: Violation | None) -> None:
    if violation is not None:
        raise _Refused(violation.code, violation.message)


# --- frames ---------------------------------------------------------------------------------
def partition_of(user_id: str, partitions: int) -> int:
    """A user's partition of the accepted topic: where librdkafka's default partitioner
    places a record keyed by the id, so the logout play the request handlers produce (keyed
    by user id) lands on the same partition as that user's frames."""
    return key_partition(user_id, partitions)


def accepted_frames(accepted: pa.Table, partitions: int) -> list[Frame]:
    """The accepted plays (``ACCEPTED_SCHEMA``, in consumed order) as columnar frames, each
    user's on their partition, in order."""
    users = accepted.column("user_id")
    user_ids, user_at = distinct(users)
    partition = np.array([partition_of(u, partitions) for u in user_ids], np.int64)[user_at]
    frames = []
    for part in np.unique(partition).tolist():
        group = accepted.filter(pa.array(partition == part))
        frames += [
            Frame(part, _frame(group.slice(start, MAX_FRAME_PLAYS)))
            for start in range(0, group.num_rows, MAX_FRAME_PLAYS)
        ]
    return frames


def rows_table(rows: Sequence[AcceptedRow]) -> pa.Table:
    """Rows as an ``ACCEPTED_SCHEMA`` table."""
    columns = zip(*rows, strict=True) if rows else [[] for _ in AcceptedRow._fields]
    named = dict(zip(AcceptedRow._fields, map(list, columns), strict=True))
    return pa.table(named, ACCEPTED_SCHEMA)


def _frame(rows: pa.Table) -> bytes:
    columns: dict[str, Any] = {name: rows.column(name) for name in AcceptedRow._fields}
    columns["version"] = pa.array([SCHEMA_VERSION] * rows.num_rows, pa.int64())
    columns["type"] = pa.array(["play_accepted"] * rows.num_rows, pa.string())
    return columnar_frame({name: columns[name] for name, _ in COLUMNS})


def _history_of(accepted: pa.Table, now: datetime) -> list[HistoryEntry]:
    def column(name: str) -> list[Any]:
        return python_values(accepted, name)

    parse = datetime.fromisoformat
    return list(
        map(
            HistoryEntry,
            column("event_id"), column("user_id"), column("track_id"), column("genre"),
            column("operation_type"), map(parse, column("start_time")),
            map(parse, column("event_time")), column("duration_ms"), repeat(now),
        )
    )  # fmt: skip


def _all_new(ids: list[str], seen: ReplayGuard) -> bool:
    """No id twice in ``ids``, none remembered by ``seen``."""
    return len(set(ids)) == len(ids) and not any(map(seen.seen, ids))
