"""PlayVerifier reading batches as columns decides exactly as the per-event path does.

Same generated batches (valid events, forged MACs, unknown, expired and other users'
sessions, wrong tracks, genres, durations and times, duplicates, replays, JSON only one
parser takes, bytes that are not JSON at all) through both paths: the same plays accepted,
the same lines, history and ids, the same dead letters with the same codes and reasons.
"""

from __future__ import annotations

import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bluetrack.bus.memory import FakeMessage
from bluetrack.core.validation import TimeRules
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import decode, encode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.messages import TrackSummary
from bluetrack.protocol.topics import Topic
from bluetrack.server import play_columns
from bluetrack.server.context import TrackFacts
from bluetrack.server.play_columns import plainly_valid
from bluetrack.server.plays import PlayBatch, PlayVerifier
from bluetrack.server.session_cache import SessionCache
from bluetrack.server.testing import FakeClock, signed_play
from bluetrack.store.sessions import InMemorySessions, SessionRecord

MASTER = b"m" * 32
RULES = TimeRules.of(clock_skew_s=30, max_event_age_s=3600)
TRACKS = [
    TrackSummary(
        track_id=track_id, name="n", artists=["a"], album="b", duration_ms=ms, genres=genres
    )
    for track_id, ms, genres in [
        ("rock-001", 180_000, ["rock", "pop"]),
        ("t2", 0, ['r\u00f6ck "x"']),
        ("slash-01", 1000, ["a\\b"]),  # its events carry a backslash: the per-event path
    ]
]
SESSIONS = [  # (session id, user id, seconds to live)
    ("session-live-1", "user-0001", 3600),
    ("session-live-2", "user-0002", 3600),
    ("session-expired", "user-0003", -1),
]
# Event times just inside and just outside the allowed window (ms from the clock's now).
OFFSETS_MS = [-1000, -3_600_000, -3_600_001, -3_599_999, 30_000, 30_001, 29_999, 0, -59_000]

_kinds = st.sampled_from(
    [
        "valid", "valid", "valid", "forged_mac", "unknown_session", "expired", "other_user",
        "unknown_track", "wrong_genre", "wrong_duration", "start_after", "same_id",
        "same_bytes", "escaped", "odd_bytes", "odd_time",
    ]
)  # fmt: skip
_ODD: list[bytes | None] = [
    None, b"", b"null", b"{}", b"{", b"[1]", b"{\"a\":1}\n{\"b\":2}", b"\xff{}", b"{\"a\":1} {}",
    b'{"version":1}', b"\xef\xbb\xbf{}",
]  # fmt: skip


def _odd_times(at: datetime) -> list[str]:
    wire = at.isoformat(timespec="milliseconds")[:-6]
    return [
        wire + "+00:00",
        at.isoformat(),
        wire,
        "2026-02-30T12:00:00.000Z",
        "2026-02-29T12:00:00.000Z",
        "2026-03-01T24:00:00.000Z",
        "2026-03-01T11:59:60.000Z",
        "0999-01-01T00:00:00.000Z",
    ]


def _world(start: datetime) -> tuple[PlayVerifier, PlayVerifier, FakeClock]:
    clock = FakeClock(start)
    store = InMemorySessions()
    for session_id, user_id, ttl in SESSIONS:
        store.create(
            SessionRecord(session_id, user_id, "u", "h", start, start + timedelta(seconds=ttl))
        )
    index = {t.track_id: TrackFacts(t.duration_ms, frozenset(t.genres)) for t in TRACKS}

    def verifier(columnar: bool) -> PlayVerifier:
        cache = SessionCache(store, MASTER, clock=clock.monotonic)
        return PlayVerifier(cache, index, RULES, now=clock.now, columnar=columnar)

    return verifier(False), verifier(True), clock


@st.composite
def batches(draw: st.DrawFn) -> tuple[datetime, list[list[bytes | None]]]:
    start = datetime(2026, 3, 1, 12, 0, 0, draw(st.sampled_from([0, 500, 999_999])), tzinfo=UTC)
    now_ms = start.replace(microsecond=start.microsecond // 1000 * 1000)
    events: list[bytes | None] = []
    ids: list[str] = []
    for kind in draw(st.lists(_kinds, min_size=1, max_size=40)):
        session_id, user_id, _ = draw(st.sampled_from(SESSIONS))
        track = draw(st.sampled_from(TRACKS))
        at = now_ms + timedelta(milliseconds=draw(st.sampled_from(OFFSETS_MS)))
        event_id = draw(st.sampled_from(ids)) if kind == "same_id" and ids else None
        if kind == "odd_bytes":
            events.append(draw(st.sampled_from(_ODD)))
            continue
        if kind == "same_bytes" and events:
            events.append(draw(st.sampled_from(events)))
            continue
        if kind == "unknown_session":
            session_id = "session-unknown"
        if kind == "expired":
            session_id, user_id = SESSIONS[2][:2]
        if kind == "other_user":
            user_id = "user-9999"
        key = sealing.play_key_for(MASTER, session_id)
        event = signed_play(
            key, user_id=user_id, session_id=session_id, track=track, at=at,
            started=at + timedelta(milliseconds=1) if kind == "start_after" else None,
            event_id=event_id, operation=draw(st.sampled_from(["start", "end"])),
        )  # fmt: skip
        ids.append(event.event_id)
        if kind == "unknown_track":
            event = sealing.sign_play(key, event.model_copy(update={"track_id": "no-such"}))
        elif kind == "wrong_genre":
            event = sealing.sign_play(key, event.model_copy(update={"genre": "jazz"}))
        elif kind == "wrong_duration":
            event = sealing.sign_play(key, event.model_copy(update={"duration_ms": 1}))
        elif kind == "forged_mac":
            event = event.model_copy(update={"mac": "0" * 64})
        raw = encode(event)
        if kind == "escaped":  # the same event with a JSON escape: only one path reads it
            raw = raw.replace(b'"client_id":"c', b'"client_id":"\\u0063')
        if kind == "odd_time":  # another spelling of the time, or no time at all
            body = json.loads(raw)
            body["event_time"] = draw(st.sampled_from(_odd_times(event.event_time)))
            raw = json.dumps(body).encode()
        events.append(raw)
    cuts = sorted(draw(st.lists(st.integers(0, len(events)), max_size=2)))
    bounds = [0, *cuts, len(events)]
    return start, [events[a:b] for a, b in itertools.pairwise(bounds)]


def outcome(batch: PlayBatch) -> dict[str, Any]:
    letters = [
        decode(record.value, DeadLetter).model_dump(exclude={"at"}) for record in batch.outgoing
    ]
    return {
        "rows": batch.accepted_rows,
        "ids": batch.accepted_ids,
        "history": batch.history,
        "rejected": batch.rejected,
        "letters": letters,
        "keys": [(record.topic, record.key) for record in batch.outgoing],
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=batches())
def test_columns_decide_as_the_per_event_path(
    case: tuple[datetime, list[list[bytes | None]]],
) -> None:
    start, parts = case
    each, columns, clock = _world(start)
    for part in parts:
        messages = [FakeMessage(Topic.SONGS_TRACKER, v, None, 0, i) for i, v in enumerate(part)]
        found = outcome(columns.verify_batch(messages))
        assert found == outcome(each.verify_batch(messages))
        event(f"accepted: {bool(found['ids'])}")
        event(f"read as columns: {bool(plainly_valid(part).index)}")
        for letter in found["letters"]:
            event(f"refused: {letter['code']}")
        clock.advance(0.25)


def test_a_batch_of_bad_json_costs_a_bounded_number_of_parses(monkeypatch: Any) -> None:
    calls = []
    real = play_columns._READER

    class Counting:
        def parse(self, value: bytes) -> Any:
            calls.append(len(value))
            return real.parse(value)

        def broken_rules(self, table: Any) -> Any:
            return real.broken_rules(table)

    monkeypatch.setattr(play_columns, "_READER", Counting())
    good = encode(
        signed_play(
            sealing.play_key_for(MASTER, "session-live-1"), user_id="user-0001",
            session_id="session-live-1", track=TRACKS[0], at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    )  # fmt: skip
    values: list[bytes | None] = [b'{"a":1} {}' if i % 2 else good for i in range(5000)]
    cols = plainly_valid(values)
    assert len(calls) <= play_columns._MOST_PARSES
    assert cols.index == []  # no piece of this batch parses: all of it goes event by event
    calls.clear()
    values[:4000] = [good] * 4000
    assert len(plainly_valid(values).index) >= 4000 - play_columns._SMALLEST


def test_plainly_valid_events_are_read_and_the_rest_left_alone() -> None:
    key = sealing.play_key_for(MASTER, "session-live-1")
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    good = encode(
        signed_play(key, user_id="user-0001", session_id="session-live-1", track=TRACKS[0], at=at)
    )
    odd_time = json.loads(good)
    odd_time["event_time"] = "2026-02-30T10:00:00.000Z"
    values = [good, b"{", None, json.dumps(odd_time).encode(), good, b"\xff{}"]
    cols = plainly_valid(values)
    assert cols.index == [0, 4]
    assert cols.column("user_id") == ["user-0001", "user-0001"]
    assert cols.column("duration_ms") == [180_000, 180_000]


def test_a_mac_wrong_in_its_last_digit_only_is_refused_read_as_columns() -> None:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    _, columns, _ = _world(start)
    key = sealing.play_key_for(MASTER, "session-live-1")
    events = [
        signed_play(key, user_id="user-0001", session_id="session-live-1", track=TRACKS[0],
                    at=start - timedelta(seconds=n))
        for n in range(1, 4)
    ]  # fmt: skip
    last = events[1].mac[-1]
    events[1] = events[1].model_copy(
        update={"mac": events[1].mac[:-1] + ("1" if last == "0" else "0")}
    )
    messages = [
        FakeMessage(Topic.SONGS_TRACKER, encode(e), None, 0, i) for i, e in enumerate(events)
    ]
    batch = columns.verify_batch(messages)
    assert len(plainly_valid([m.value() for m in messages]).index) == 3, "all read as columns"
    assert batch.accepted_ids == [events[0].event_id, events[2].event_id]
    [letter] = [decode(r.value, DeadLetter) for r in batch.outgoing]
    assert letter.reason == "the event's MAC does not verify"


@settings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=200), message=st.binary(max_size=600))
def test_hmac_from_precomputed_states_is_the_standard_hmac(key: bytes, message: bytes) -> None:
    inner, outer = play_columns.hmac_states(key)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    assert outer.digest() == hmac.digest(key, message, "sha256")
