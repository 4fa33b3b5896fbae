"""PlayVerifier: which play events are accepted, why the others are dead-lettered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrack.core.validation import TimeRules
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import decode, encode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import new_id
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.messages import TrackSummary
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.plays import (
    PlayBatch,
    PlayVerifier,
    WireText,
    _signing_bytes,
    accepted_play_bytes,
    decode_play,
    wire_time,
)
from bluetrack.server.session_cache import SessionCache
from bluetrack.server.testing import FakeClock, FakeSongs, as_messages, signed_play
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


def test_a_good_play_is_accepted_keyed_by_user_and_kept_in_history(world: World) -> None:
    event = world.play()
    batch = world.verify(event)
    assert batch.accepted == 1 and batch.rejected == 0
    [record] = batch.outgoing
    assert record.topic == Topic.PLAYS_ACCEPTED and record.key == event.user_id
    accepted = decode(record.value, AcceptedPlay)
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


# --- the fast paths agree with the protocol --------------------------------------------------
_texts = st.text(min_size=1, max_size=64)
_ids = st.text("abcXYZ019_-", min_size=8, max_size=64)
_times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(genre=_texts, ids=_ids, start=_times, event=_times, duration=st.integers(0, 21_600_000))
def test_fast_signing_bytes_equal_the_protocols(
    genre: str, ids: str, start: datetime, event: datetime, duration: int
) -> None:
    play = PlayEvent(
        event_id=ids, user_id=ids, session_id=ids, client_id=ids, track_id=ids,
        operation_type="pause", start_time=start, event_time=event, duration_ms=duration,
        genre=genre, mac="0" * 64,
    )  # fmt: skip
    wire = WireText(wire_time(start), wire_time(event), json.dumps(genre))
    assert _signing_bytes(play, wire) == sealing.play_signing_bytes(play)


def test_accepted_play_bytes_decode_to_the_model(world: World) -> None:
    event = world.play(genre="rock")
    event = event.model_copy(update={"genre": 'r\u00f6ck "quoted"'})
    now = world.clock.now()
    wire = WireText(
        wire_time(event.start_time), wire_time(event.event_time), json.dumps(event.genre)
    )
    expected = AcceptedPlay(
        event_id=event.event_id, user_id=event.user_id, track_id=event.track_id,
        operation_type=event.operation_type, start_time=event.start_time,
        event_time=event.event_time, duration_ms=event.duration_ms, genre=event.genre,
        accepted_at=now,
    )  # fmt: skip
    assert decode(accepted_play_bytes(event, wire, wire_time(now)), AcceptedPlay) == expected


@pytest.mark.parametrize(
    "change",
    [{"version": 2}, {"type": "play_accepted"}, {"mac": "zz"}, {"extra": 1}, {"event_id": 5}],
)
def test_decode_play_refuses_what_codec_decode_refuses(change: dict[str, object]) -> None:
    world = World()
    body = {**json.loads(encode(world.play())), **change}
    raw = json.dumps(body).encode()
    with pytest.raises(DecodeError) as fast:
        decode_play(raw)
    with pytest.raises(DecodeError) as reference:
        decode(raw, PlayEvent)
    assert fast.value.code is reference.value.code


def test_decode_play_accepts_what_codec_decode_accepts(world: World) -> None:
    raw = encode(world.play())
    assert decode_play(raw) == decode(raw, PlayEvent)
