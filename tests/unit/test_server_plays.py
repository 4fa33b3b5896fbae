"""PlayVerifier: which play events are accepted, why the others are dead-lettered; PlaysLoop
(with a fake consumer and producer): frames out, commit only after delivery."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError

from bluetrack.bus.memory import FakeMessage
from bluetrack.core.validation import TimeRules
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import decode, encode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import new_id
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.frames import MAX_FRAME_PLAYS, decode_frame, is_columnar
from bluetrack.protocol.messages import TrackSummary
from bluetrack.protocol.plays import PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.history_writer import HistoryWriter
from bluetrack.server.play_wire import AcceptedRow
from bluetrack.server.plays import (
    PlayBatch,
    PlayVerifier,
    accepted_frames,
    partition_of,
    rows_table,
)
from bluetrack.server.plays_loop import PlaysLoop
from bluetrack.server.session_cache import SessionCache
from bluetrack.server.testing import FakeClock, FakeSongs, as_messages, signed_play
from bluetrack.store.history import InMemoryHistory
from bluetrack.store.sessions import InMemorySessions, SessionRecord

MASTER = b"m" * 32


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.songs = FakeSongs()
        self.store = InMemorySessions()
        self.cache = SessionCache(self.store, MASTER, clock=self.clock.monotonic)
        self.verifier = PlayVerifier(
            self.cache,
            self.songs.track_index(),
            TimeRules.of(clock_skew_s=30, max_event_age_s=3600),
            now=self.clock.now,
        )

    def session(self, user_id: str | None = None, ttl_s: int = 3600) -> tuple[str, str, bytes]:
        session_id, user_id = new_id(), user_id or new_id()
        now = self.clock.now()
        self.store.create(
            SessionRecord(session_id, user_id, "u", "hash", now, now + timedelta(seconds=ttl_s))
        )
        return session_id, user_id, sealing.play_key_for(MASTER, session_id)

    def play(self, **overrides: object) -> PlayEvent:
        session_id, user_id, key = self.session()
        return self.play_for(session_id, user_id, key, **overrides)

    def play_for(self, session_id: str, user_id: str, key: bytes, **overrides: object) -> PlayEvent:
        fields: dict[str, object] = {
            "user_id": user_id,
            "session_id": session_id,
            "track": self.songs.tracks[0],
            "at": self.clock.now() - timedelta(seconds=1),
        }
        fields.update(overrides)
        return signed_play(key, **fields)  # type: ignore[arg-type]

    def verify(self, *events: PlayEvent | bytes) -> PlayBatch:
        return self.verifier.verify_batch(as_messages(events))


def dead_codes(batch: PlayBatch) -> list[ErrorCode]:
    return [
        decode(r.value, DeadLetter).code for r in batch.outgoing if r.topic == Topic.DEAD_LETTER
    ]


@pytest.fixture
def world() -> World:
    return World()


def test_a_good_play_is_accepted_for_its_user_and_kept_in_history(world: World) -> None:
    event = world.play()
    batch = world.verify(event)
    assert batch.accepted == 1 and batch.rejected == 0 and batch.outgoing == []
    [row] = batch.accepted_rows
    assert row.user_id == event.user_id
    [frame] = accepted_frames(batch.accepted_table(), partitions=4)
    [accepted] = decode_frame(frame.value)
    assert accepted.event_id == event.event_id and accepted.genre == event.genre
    assert accepted.event_time == event.event_time
    assert accepted.accepted_at == world.clock.now()
    [entry] = batch.history
    assert entry.event_id == event.event_id and entry.user_id == event.user_id


def test_a_play_for_another_user_is_forged(world: World) -> None:
    session_id, _, key = world.session()
    victim = new_id()
    batch = world.verify(world.play_for(session_id, victim, key))
    assert dead_codes(batch) == [ErrorCode.FORGED_EVENT]
    assert batch.accepted == 0


def test_a_play_signed_with_another_key_is_forged(world: World) -> None:
    session_id, user_id, _ = world.session()
    batch = world.verify(world.play_for(session_id, user_id, b"k" * 32))
    assert dead_codes(batch) == [ErrorCode.FORGED_EVENT]


def test_a_tampered_play_is_forged(world: World) -> None:
    event = world.play()
    tampered = event.model_copy(update={"operation_type": "end"})
    assert dead_codes(world.verify(tampered)) == [ErrorCode.FORGED_EVENT]


def test_unknown_and_expired_sessions_are_refused(world: World) -> None:
    unknown = signed_play(
        b"k" * 32, user_id=new_id(), session_id=new_id(), track=world.songs.tracks[0],
        at=world.clock.now(),
    )  # fmt: skip
    session_id, user_id, key = world.session(ttl_s=10)
    late = world.play_for(session_id, user_id, key, at=world.clock.now() + timedelta(seconds=15))
    world.clock.advance(20)
    assert dead_codes(world.verify(unknown, late)) == [
        ErrorCode.INVALID_SESSION,
        ErrorCode.SESSION_EXPIRED,
    ]


def test_catalogue_rules(world: World) -> None:
    jazz = world.songs.tracks[-1]
    assert "jazz" not in jazz.genres
    fake_track = TrackSummary(
        track_id="no-such-track", name="x", artists=[], album="x", duration_ms=1, genres=["rock"]
    )
    wrong_length = jazz.model_copy(update={"duration_ms": jazz.duration_ms + 1})
    batch = world.verify(
        world.play(track=fake_track),
        world.play(track=jazz, genre="jazz"),
        world.play(track=wrong_length),
    )
    assert dead_codes(batch) == [
        ErrorCode.UNKNOWN_TRACK,
        ErrorCode.GENRE_MISMATCH,
        ErrorCode.BAD_EVENT_TIME,
    ]


@pytest.mark.parametrize(
    ("at", "started"),
    [
        (timedelta(seconds=31), None),
        (timedelta(hours=-1, seconds=-1), None),
        (timedelta(0), timedelta(seconds=1)),
    ],
    ids=["future", "too-old", "start-after-event"],
)
def test_insane_times_are_refused(world: World, at: timedelta, started: timedelta | None) -> None:
    now = world.clock.now()
    event = world.play(at=now + at, started=now + at + started if started else None)
    assert dead_codes(world.verify(event)) == [ErrorCode.BAD_EVENT_TIME]


def test_a_replayed_event_is_refused_in_the_same_and_a_later_batch(world: World) -> None:
    event = world.play()
    first = world.verify(event, event)
    assert first.accepted == 1 and dead_codes(first) == [ErrorCode.DUPLICATE_EVENT]
    assert dead_codes(world.verify(event)) == [ErrorCode.DUPLICATE_EVENT]


def test_forgetting_a_batch_lets_it_be_verified_again(world: World) -> None:
    event = world.play()
    batch = world.verify(event)
    world.verifier.seen.forget(batch.accepted_ids)
    assert world.verify(event).accepted == 1


def test_malformed_plays_are_dead_lettered_and_the_rest_still_counted(world: World) -> None:
    good = world.play()
    wrong_type = json.dumps({**json.loads(encode(good)), "duration_ms": "long"}).encode()
    batch = world.verify(b"{oops", wrong_type, good, b"\x00" * 10)
    assert batch.accepted == 1
    assert dead_codes(batch) == [ErrorCode.INVALID_MESSAGE] * 3


def test_sessions_are_looked_up_once_per_batch_not_per_event(world: World) -> None:
    session_id, user_id, key = world.session()
    events = [world.play_for(session_id, user_id, key) for _ in range(50)]
    world.verify(*events[:25])
    world.verify(*events[25:])
    assert world.verify(*[world.play() for _ in range(10)]).accepted == 10
    assert world.store.lookups == 2, "one round trip for the first batch and one for new ids"


def test_a_logout_elsewhere_is_seen_after_the_background_refresh(world: World) -> None:
    session_id, user_id, key = world.session()
    assert world.verify(world.play_for(session_id, user_id, key)).accepted == 1
    world.store.delete(session_id)  # another server process logged it out
    world.clock.advance(31)
    assert world.verify(world.play_for(session_id, user_id, key)).accepted == 1, "not yet seen"
    assert world.cache.refresh_stale() == 1  # the server's housekeeping does this
    batch = world.verify(world.play_for(session_id, user_id, key))
    assert dead_codes(batch) == [ErrorCode.INVALID_SESSION]


# --- frames ----------------------------------------------------------------------------------
def test_a_batch_becomes_frames_with_each_users_plays_on_one_partition_in_order(
    world: World,
) -> None:
    users = [world.session() for _ in range(6)]
    events = [world.play_for(*users[n % 6]) for n in range(60)]
    batch = world.verify(*events)
    frames = accepted_frames(batch.accepted_table(), partitions=3)
    assert len(frames) == len({f.partition for f in frames}) <= 3, "one frame per partition"
    plays = {f.partition: decode_frame(f.value) for f in frames}
    for partition, found in plays.items():
        assert {p.user_id for p in found} <= {
            u for _, u, _ in users if partition_of(u, 3) == partition
        }
    for _, user_id, _ in users:
        [partition] = {p for p, found in plays.items() for play in found if play.user_id == user_id}
        mine = [p.event_id for p in plays[partition] if p.user_id == user_id]
        assert mine == [e.event_id for e in events if e.user_id == user_id], "consumed order"
    assert sorted(p.event_id for found in plays.values() for p in found) == sorted(
        e.event_id for e in events
    )


def test_a_partition_with_more_plays_than_a_frame_holds_gets_several_frames() -> None:
    at = "2026-01-01T00:00:00.000Z"
    row = AcceptedRow("e" * 8, "u" * 8, "t", "start", at, at, 1, "rock", at)
    frames = accepted_frames(rows_table([row] * (MAX_FRAME_PLAYS + 1)), partitions=2)
    assert [len(decode_frame(f.value)) for f in frames] == [MAX_FRAME_PLAYS, 1]
    assert {f.partition for f in frames} == {partition_of("u" * 8, 2)}
    assert all(is_columnar(f.value) for f in frames)


def test_partition_of_is_crc32_like_librdkafkas_default_partitioner() -> None:
    # Known CRC-32 values, so the logout play (keyed by user id, default partitioner) goes
    # where that user's frames go.
    assert partition_of("123456789", 1 << 32) == 0xCBF43926  # CRC-32's check value


# --- the plays loop ---------------------------------------------------------------------------
PARTITIONS = 3


@dataclass
class FakeProducer:
    """Records what was produced; ``fail`` makes every delivery report an error."""

    fail: bool = False
    fatal: bool = False
    produced: list[dict[str, Any]] = field(default_factory=list)
    metadata_reads: int = 0
    _reports: list[Any] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, key: Any = None, **kw: Any) -> None:
        self.produced.append({"topic": topic, "value": value, "key": key, **kw})
        self._reports.append(kw.get("on_delivery"))

    def flush(self, timeout: float = 0) -> int:
        for report in self._reports:
            if report is not None:
                report(self._error(), None)
        self._reports.clear()
        return 0

    def _error(self) -> KafkaError | None:
        if self.fatal:
            return KafkaError(KafkaError._FATAL, "fatal idempotent producer error", fatal=True)
        return KafkaError(KafkaError._MSG_TIMED_OUT) if self.fail else None

    def list_topics(self, topic: str, timeout: float = 0) -> Any:
        self.metadata_reads += 1
        found = SimpleNamespace(error=None, partitions=dict.fromkeys(range(PARTITIONS)))
        return SimpleNamespace(topics={topic: found})


@dataclass
class FakeConsumer:
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)
    seeks: list[tuple[str, int, int]] = field(default_factory=list)

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))


def loop_for(
    world: World, producer: FakeProducer, consumer: FakeConsumer, **options: Any
) -> PlaysLoop:
    return PlaysLoop(
        world.verifier,
        consumer,  # type: ignore[arg-type]
        producer,  # type: ignore[arg-type]
        HistoryWriter(InMemoryHistory()),
        stop=threading.Event(),
        **options,
    )


def consumed(world: World, count: int, *, partition: int = 1, first: int = 40) -> list[Any]:
    users = [world.session() for _ in range(4)]
    raws = [encode(world.play_for(*users[n % 4])) for n in range(count)] + [b"junk"]
    return [
        FakeMessage(Topic.SONGS_TRACKER, raw, None, partition, first + n)
        for n, raw in enumerate(raws)
    ]


def test_accepted_plays_go_out_as_frames_on_their_users_partitions_then_commit() -> None:
    world, producer, consumer = World(), FakeProducer(), FakeConsumer()
    loop = loop_for(world, producer, consumer)
    loop._process(consumed(world, 20))
    frames = [r for r in producer.produced if r["topic"] == Topic.PLAYS_ACCEPTED]
    letters = [r for r in producer.produced if r["topic"] == Topic.DEAD_LETTER]
    assert len(letters) == 1 and 1 <= len(frames) <= PARTITIONS
    plays = [(f["partition"], p) for f in frames for p in decode_frame(f["value"])]
    assert len(plays) == 20 and all(f["key"] is None for f in frames)
    assert all(partition == partition_of(p.user_id, PARTITIONS) for partition, p in plays)
    assert consumer.commits == [[(Topic.SONGS_TRACKER, 1, 61)]], "one past the batch's last"
    assert (loop.accepted, loop.rejected, producer.metadata_reads) == (20, 1, 1)
    loop._process(consumed(world, 5, first=61))
    assert producer.metadata_reads == 1, "the partition count is read once"


def test_an_undelivered_batch_is_not_committed_but_rewound_and_verified_again() -> None:
    world, producer, consumer = World(), FakeProducer(fail=True), FakeConsumer()
    loop = loop_for(world, producer, consumer)
    loop._stop.set()  # no back-off wait in a unit test
    batch = consumed(world, 10)
    loop._process(batch)
    assert consumer.commits == [] and consumer.seeks == [(Topic.SONGS_TRACKER, 1, 40)]
    assert loop.accepted == 0
    producer.fail = False
    loop._process(batch)
    assert loop.accepted == 10, "the replay guard forgot the failed batch's ids"
    assert consumer.commits == [[(Topic.SONGS_TRACKER, 1, 51)]]
    assert producer.metadata_reads == 2, "the partition count is read again after a failure"


def test_a_producer_that_failed_for_good_is_replaced_and_the_batch_goes_through_the_new_one() -> (
    None
):
    world, broken, consumer = World(), FakeProducer(fatal=True), FakeConsumer()
    fresh: list[FakeProducer] = []
    loop = loop_for(
        world, broken, consumer, new_producer=lambda: fresh.append(FakeProducer()) or fresh[-1]
    )
    loop._stop.set()
    batch = consumed(world, 10)
    loop._process(batch)
    assert consumer.commits == [] and loop.producers_replaced == 1
    loop._process(batch)
    assert loop.accepted == 10 and consumer.commits == [[(Topic.SONGS_TRACKER, 1, 51)]]
    [new] = fresh
    assert {r["topic"] for r in new.produced} == {Topic.PLAYS_ACCEPTED, Topic.DEAD_LETTER}
