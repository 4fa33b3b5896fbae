"""Verifying play events in batches: the server's hot path (target: 50k events/s/process).

An event is accepted only if it comes from a live session, names that session's own user,
carries a valid MAC under the session's play key, names a known track with one of ITS
genres and its real duration, has sane times, and was not seen before. Accepted events
become ``AcceptedPlay`` lines (packed into frames for the stream processor, its only input)
plus listening-history entries; everything else becomes a dead letter with the reason.

Speed comes from doing per batch what can be done per batch (one session lookup for all
unknown sessions, one clock read, the allowed time window) and from decoding, signing bytes
and accepted plays done by hand for well-formed events, pinned to the protocol by tests
(``play_wire``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from bluetrack.bus.dead_letter import dead_letter_for
from bluetrack.core.replay import ReplayGuard
from bluetrack.core.validation import TimeRules, Violation, check_duration, check_event_times
from bluetrack.protocol.codec import encode
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import frames_of
from bluetrack.protocol.topics import Topic
from bluetrack.server.context import TrackIndex
from bluetrack.server.outcome import Outgoing
from bluetrack.server.play_wire import Play, accepted_play_bytes, decode_play, mac_ok, wire_time
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


class AcceptedLine(NamedTuple):
    """One accepted play's ``AcceptedPlay`` JSON, with the user it is partitioned by."""

    user_id: str
    line: bytes


class Frame(NamedTuple):
    """One record for the accepted topic: a frame of plays for one partition."""

    partition: int
    value: bytes


@dataclass
class PlayBatch:
    accepted_lines: list[AcceptedLine] = field(default_factory=list)  # in consumed order
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
    ) -> None:
        self._sessions = sessions
        self._tracks = tracks
        self._rules = rules
        self._now = now
        # A replay older than max_event_age is refused by the time rules, so the guard only
        # needs to remember ids that long (plus the skew an event may be ahead by).
        self.seen = seen or ReplayGuard(
            (rules.max_event_age + rules.clock_skew).total_seconds(), buckets=12
        )

    def use_tracks(self, tracks: TrackIndex) -> None:
        """Check plays against a newly loaded catalogue from the next batch on."""
        self._tracks = tracks

    def verify_batch(self, messages: Sequence[ConsumedMessage]) -> PlayBatch:
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
            try:
                self._verify(play, now, window)
            except _Refused as exc:
                self._refuse(batch, msg, exc.code, str(exc))
                continue
            self._accept(batch, play, now, accepted_at)
        return batch

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
        batch.accepted_lines.append(
            AcceptedLine(play.user_id, accepted_play_bytes(play, accepted_at))
        )
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


def _raise_if(violation: Violation | None) -> None:
    if violation is not None:
        raise _Refused(violation.code, violation.message)


# --- frames ---------------------------------------------------------------------------------
def partition_of(user_id: str, partitions: int) -> int:
    """A user's partition of the accepted topic: CRC-32 of the id, as librdkafka's default
    partitioner places a record keyed by it, so the logout play the request handlers produce
    (keyed by user id) lands on the same partition as that user's frames."""
    return zlib.crc32(user_id.encode()) % partitions


def accepted_frames(lines: Sequence[AcceptedLine], partitions: int) -> list[Frame]:
    """The batch's accepted plays as frames, each user's on their partition, in order."""
    by_partition: dict[int, list[bytes]] = {}
    for user_id, line in lines:
        by_partition.setdefault(partition_of(user_id, partitions), []).append(line)
    return [
        Frame(partition, frame)
        for partition, group in sorted(by_partition.items())
        for frame in frames_of(group)
    ]
