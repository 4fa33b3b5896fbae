"""Verifying play events in batches: the server's hot path (target: 50k events/s/process).

An event is accepted only if it comes from a live session, names that session's own user,
carries a valid MAC under the session's play key, names a known track with one of ITS
genres and its real duration, has sane times, and was not seen before. Accepted events
become ``AcceptedPlay`` lines (packed into frames for the stream processor, its only input)
plus listening-history entries; everything else becomes a dead letter with the reason.

Speed comes from doing per batch what can be done per batch (one session lookup for all
unknown sessions, one clock read, the allowed time window) and from decoding, signing bytes
and accepted plays done by hand for well-formed events, pinned to the protocol by tests
(``play_wire``). By default (``columnar``) the batch's plainly valid events are parsed
together in one Arrow call (``play_columns``) and checked from Python lists; every other
event, and any that breaks a rule, takes the per-event path, which gives the dead letter
its code and reason. A property test requires both paths to decide alike.
"""

from __future__ import annotations

import hmac
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from bluetrack.bus.dead_letter import dead_letter_for
from bluetrack.core.replay import ReplayGuard
from bluetrack.core.validation import TimeRules, Violation, check_duration, check_event_times
from bluetrack.protocol.codec import encode
from bluetrack.protocol.envelope import SCHEMA_VERSION, utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import COLUMNS, MAX_FRAME_PLAYS, columnar_frame
from bluetrack.protocol.topics import Topic
from bluetrack.server.context import TrackIndex
from bluetrack.server.outcome import Outgoing
from bluetrack.server.play_columns import plainly_valid
from bluetrack.server.play_wire import (
    AcceptedRow,
    Play,
    _quoted,
    accepted_row,
    decode_play,
    mac_ok,
    wire_time,
)
from bluetrack.server.session_cache import SessionCache
from bluetrack.store.history import HistoryEntry

COMPONENT = "server"


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
    accepted_rows: list[AcceptedRow] = field(default_factory=list)  # in consumed order
    outgoing: list[Outgoing] = field(default_factory=list)  # dead letters
    history: list[HistoryEntry] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)  # forget these if the batch is retried
    rejected: int = 0

    @property
    def accepted(self) -> int:
        return len(self.accepted_ids)


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
        decoded: list[tuple[ConsumedMessage, Play]] = []
        for msg in messages:
            try:
                decoded.append((msg, decode_play(msg.value())))
            except DecodeError as exc:
                self._refuse(batch, msg, exc.code, str(exc))
        now = self._now()
        self._sessions.refresh({play.session_id for _, play in decoded}, now)
        window = _TimeWindow(now - self._rules.max_event_age, now + self._rules.clock_skew)
        accepted_at = wire_time(now)
        for msg, play in decoded:
            self._verify_one(batch, msg, play, now, window, accepted_at)
        return batch

    def _verify_columns(self, messages: Sequence[ConsumedMessage]) -> PlayBatch:
        """The per-event path's decisions, in its order, with the plainly valid events read
        as columns (``play_columns``) and checked with little Python per event. An event
        that breaks any rule is verified again by ``_verify``, which says which and why."""
        batch = PlayBatch()
        values = [msg.value() for msg in messages]
        cols = plainly_valid(values)
        # Per message: None for the next row of ``cols``, else the per-event path's Play.
        decoded: list[tuple[ConsumedMessage, Play | None]] = []
        in_cols = iter(cols.index)
        next_row = next(in_cols, -1)
        for position, msg in enumerate(messages):
            if position == next_row:
                decoded.append((msg, None))
                next_row = next(in_cols, -1)
                continue
            try:
                decoded.append((msg, decode_play(values[position])))
            except DecodeError as exc:
                self._refuse(batch, msg, exc.code, str(exc))
        now = self._now()
        self._sessions.refresh(
            {*cols.session_id, *(p.session_id for _, p in decoded if p is not None)}, now
        )
        window = _TimeWindow(now - self._rules.max_event_age, now + self._rules.clock_skew)
        accepted_at = wire_time(now)
        # The window as wire text: times on the wire are whole ms, and their text sorts as
        # the times do.
        earliest, latest = _ms_ceil(window.earliest), wire_time(window.latest.astimezone(UTC))
        session_of, track_of, seen = self._sessions.get, self._tracks.get, self.seen
        rows_out, history, ids = batch.accepted_rows, batch.history, batch.accepted_ids
        # Ids accepted here and not yet told to the replay guard (told before any event goes
        # through ``_verify``, which asks the guard).
        fresh: set[str] = set()
        rows = zip(
            cols.event_id, cols.user_id, cols.session_id, cols.client_id, cols.track_id,
            cols.operation_type, cols.start_time, cols.event_time, cols.duration_ms, cols.genre,
            cols.mac, strict=True,
        )  # fmt: skip
        for msg, play in decoded:
            if play is not None:
                seen.remember_many(fresh)
                fresh.clear()
                self._verify_one(batch, msg, play, now, window, accepted_at)
                continue
            event_id, user_id, session_id, client_id, track_id, op, start, end, ms, genre, mac = (
                next(rows)
            )
            session = session_of(session_id)
            track = track_of(track_id)
            quoted = _quoted(genre)
            if (
                session is None
                or session.expires_at <= now
                or user_id != session.user_id
                or track is None
                or genre not in track.genres
                or not earliest <= end <= latest
                or start > end
                or ms != track.duration_ms
                or event_id in fresh
                or seen.seen(event_id)
                or not hmac.compare_digest(
                    hmac.digest(
                        session.play_key,
                        # play_wire.signing_bytes, spelled out
                        f'{{"client_id":"{client_id}","duration_ms":{ms},'
                        f'"event_id":"{event_id}","event_time":"{end}","genre":{quoted},'
                        f'"operation_type":"{op}","session_id":"{session_id}",'
                        f'"start_time":"{start}","track_id":"{track_id}","type":"play_event",'
                        f'"user_id":"{user_id}","version":{SCHEMA_VERSION}}}'.encode(),
                        "sha256",
                    ).hex(),
                    mac,
                )
            ):
                # Some rule is broken: the per-event path finds which, in its order.
                seen.remember_many(fresh)
                fresh.clear()
                self._verify_one(batch, msg, decode_play(msg.value()), now, window, accepted_at)
                continue
            fresh.add(event_id)
            ids.append(event_id)
            rows_out.append(
                AcceptedRow(event_id, user_id, track_id, op, start, end, ms, genre, accepted_at)
            )
            history.append(
                HistoryEntry(
                    event_id,
                    user_id,
                    track_id,
                    genre,
                    op,
                    datetime.fromisoformat(start),
                    datetime.fromisoformat(end),
                    ms,
                    now,
                )
            )
        seen.remember_many(fresh)
        return batch

    def _verify_one(
        self,
        batch: PlayBatch,
        msg: ConsumedMessage,
        play: Play,
        now: datetime,
        window: _TimeWindow,
        accepted_at: str,
    ) -> None:
        try:
            self._verify(play, now, window)
        except _Refused as exc:
            self._refuse(batch, msg, exc.code, str(exc))
            return
        self._accept(batch, play, now, accepted_at)

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

    def _accept(self, batch: PlayBatch, play: Play, now: datetime, accepted_at: str) -> None:
        self.seen.remember(play.event_id)
        batch.accepted_ids.append(play.event_id)
        batch.accepted_rows.append(accepted_row(play, accepted_at))
        batch.history.append(
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
            )
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
    """A user's partition of the accepted topic: CRC-32 of the id, as librdkafka's default
    partitioner places a record keyed by it, so the logout play the request handlers produce
    (keyed by user id) lands on the same partition as that user's frames."""
    return zlib.crc32(user_id.encode()) % partitions


def accepted_frames(rows: Sequence[AcceptedRow], partitions: int) -> list[Frame]:
    """The batch's accepted plays as columnar frames, each user's on their partition, in
    order."""
    by_partition: dict[int, list[AcceptedRow]] = {}
    for row in rows:
        by_partition.setdefault(partition_of(row.user_id, partitions), []).append(row)
    return [
        Frame(partition, _frame(group[start : start + MAX_FRAME_PLAYS]))
        for partition, group in sorted(by_partition.items())
        for start in range(0, len(group), MAX_FRAME_PLAYS)
    ]


def _frame(rows: Sequence[AcceptedRow]) -> bytes:
    columns: dict[str, list[Any]] = dict(
        zip(AcceptedRow._fields, map(list, zip(*rows, strict=True)), strict=True)
    )
    columns["version"] = [SCHEMA_VERSION] * len(rows)
    columns["type"] = ["play_accepted"] * len(rows)
    return columnar_frame({name: columns[name] for name, _ in COLUMNS})
