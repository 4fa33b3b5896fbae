"""play_wire's fast paths agree with the protocol: decoding, signing bytes, accepted plays.

The fast decoder must accept exactly what ``codec.decode(raw, PlayEvent)`` accepts, with the
same values, for valid events and for events with any field broken; where it takes its fast
path, its signing bytes must be the protocol's (the MAC check trusts them alone there).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetrack.protocol import sealing
from bluetrack.protocol.codec import decode, decode_object, encode
from bluetrack.protocol.envelope import format_utc
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import COLUMNS
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.server.play_wire import (
    Play,
    accepted_row,
    decode_play,
    fields_of,
    mac_ok,
    play_of,
    signing_bytes,
    wire_time,
)

KEY = b"k" * 32
_ID_CHARS = "abcXYZ019_-"
_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
# format_utc writes years before 1000 with fewer than four digits, which the protocol then
# refuses to parse: such times are generated as near misses, not as valid ones.
_wire_times = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


def valid_ids(min_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(_ID_CHARS, min_size=min_size, max_size=64)


def _other_times(at: datetime) -> st.SearchStrategy[Any]:
    """Ways to write a time other than the wire format, valid or not."""
    plus_two = timezone(timedelta(hours=2))
    return st.sampled_from(
        [
            at.isoformat(),
            at.astimezone(plus_two).isoformat(),
            at.replace(tzinfo=None).isoformat(),
            format_utc(at).replace("-", "/"),
            format_utc(at)[:-1] + "+00:00",
            int(at.timestamp()),
            "2026-02-30T10:00:00.000Z",
            "2026-01-01T24:00:00.000Z",
            "2026-01-01T23:59:60.000Z",
            "0999-01-01T00:00:00.000Z",
            "２０２６-01-01T00:00:00.000Z",
        ]
    )


_JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=80), st.lists(st.integers(), max_size=2), st.just({}),
)  # fmt: skip


@st.composite
def raw_events(draw: st.DrawFn) -> bytes:
    """A well-formed PlayEvent's JSON, then (sometimes) some fields broken, dropped or added."""
    start = draw(_wire_times)
    event = start + draw(st.timedeltas(timedelta(0), timedelta(hours=7)))
    body: dict[str, Any] = {
        "version": 1,
        "type": "play_event",
        "event_id": draw(valid_ids()),
        "user_id": draw(valid_ids()),
        "session_id": draw(valid_ids()),
        "client_id": draw(valid_ids()),
        "track_id": draw(valid_ids(1)),
        "operation_type": draw(st.sampled_from(["start", "stop", "pause", "resume", "end"])),
        "start_time": format_utc(start),
        "event_time": format_utc(event),
        "duration_ms": draw(st.integers(0, 21_600_000)),
        "genre": draw(st.text(min_size=1, max_size=64)),
        "mac": draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
    }
    for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=2, unique=True)):
        change = draw(st.sampled_from(["junk", "drop", "near"]))
        if change == "drop":
            del body[name]
        elif change == "junk":
            body[name] = draw(_JUNK)
        elif name in ("start_time", "event_time"):
            body[name] = draw(_other_times(start if name == "start_time" else event))
        else:
            body[name] = draw(_near_misses(name, body[name]))
    if draw(st.integers(0, 20)) == 0:
        body["extra"] = 1
    if draw(st.booleans()):
        body = dict(reversed(list(body.items())))  # key order must not matter
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def _near_misses(name: str, value: Any) -> st.SearchStrategy[Any]:
    """Values just outside (or just inside) a field's rules."""
    if name == "version":
        return st.sampled_from([2, 0, True, 1.0, "1"])
    if name == "type":
        return st.sampled_from(["play_accepted", "Play_event", "play_event "])
    if name in ("event_id", "user_id", "session_id", "client_id", "track_id"):
        return st.sampled_from(["a" * 7, "a" * 65, "a" * 8 + "\n", "abc def12", "é" * 8, ""])
    if name == "duration_ms":
        return st.sampled_from([-1, 21_600_001, 21_600_000, 0, True, 1.0, 1.5, "60000"])
    if name == "genre":
        return st.sampled_from(["", "x" * 64, "x" * 65, "\ud800", "rock\n", "\u00e9" * 64])
    if name == "mac":
        return st.sampled_from([value.upper(), value[:63], value + "0", value[:63] + "\n"])
    if name == "operation_type":
        return st.sampled_from(["logout", "Start", ""])
    return st.just(value)


def reference(raw: bytes) -> PlayEvent | DecodeError:
    try:
        return decode(raw, PlayEvent)
    except DecodeError as exc:
        return exc


def fast(raw: bytes) -> Play | DecodeError:
    try:
        return decode_play(raw)
    except DecodeError as exc:
        return exc


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_events())
def test_decode_play_agrees_with_codec_decode(raw: bytes) -> None:
    expected, found = reference(raw), fast(raw)
    if isinstance(expected, DecodeError):
        assert isinstance(found, DecodeError), f"accepted what the protocol refuses: {raw!r}"
        assert found.code is expected.code
        return
    assert isinstance(found, Play), f"refused what the protocol accepts: {raw!r}"
    assert fields_of(found) == expected.model_dump()
    assert found.wire.start_time == format_utc(expected.start_time) or found.model is not None
    assert found.wire.event_time == format_utc(expected.event_time) or found.model is not None
    if found.model is None:  # the fast path: its signing bytes alone decide the MAC
        assert signing_bytes(found) == sealing.play_signing_bytes(expected)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda raw: b"\xef\xbb\xbf" + raw,  # a BOM: json.loads takes it
        lambda raw: raw + b" x",
        lambda raw: raw + b"\n\t ",
        lambda raw: b"\x0c" + raw,
        lambda raw: raw.replace(b'"genre":"', b'"genre":"\n'),  # a raw control character
        lambda raw: raw.replace(b'"genre":"', b'"genre":"\x7f'),
        lambda raw: raw.replace(b'"genre":"', b'"genre":"\xed\xa0\x80'),  # a lone surrogate
        lambda raw: raw.replace(b'"genre":"', b'"genre":"\\ud800'),
        lambda raw: raw.replace(b'"genre":"', b'"genre":"\xff'),
        lambda raw: raw.replace(b'"duration_ms":', b'"duration_ms":0'),
        lambda raw: raw.replace(b'"duration_ms":1000', b'"duration_ms":1e3'),
        lambda raw: raw.replace(b'"duration_ms":1000', b'"duration_ms":NaN'),
        lambda raw: raw.replace(b'"version":1', b'"version":1,"version":1'),
        lambda raw: raw.replace(b'"genre":', b'"genre":"pop","genre":'),
        lambda raw: raw[:-1] + b",}",
        lambda raw: raw.decode().encode("utf-16"),
    ],
)
def test_json_that_only_one_parser_takes_is_judged_by_the_protocol(wrap: Any) -> None:
    raw = wrap(encode(client_event()))
    expected, found = reference(raw), fast(raw)
    if isinstance(expected, DecodeError):
        assert isinstance(found, DecodeError) and found.code is expected.code
    else:
        assert isinstance(found, Play) and fields_of(found) == expected.model_dump()


def client_event() -> PlayEvent:
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    return sealing.sign_play(
        KEY,
        PlayEvent(
            event_id="event-0001", user_id="user-0001", session_id="session-01",
            client_id="client-001", track_id="t1", operation_type="start", start_time=at,
            event_time=at, duration_ms=1000, genre='r\u00f6ck "x"', mac="0" * 64,
        ),
    )  # fmt: skip


def test_a_clients_event_takes_the_fast_path() -> None:
    event = client_event()
    play = decode_play(encode(event))
    assert play.model is None and fields_of(play) == event.model_dump()
    assert mac_ok(KEY, play) and not mac_ok(b"x" * 32, play)


@settings(max_examples=300, deadline=None)
@given(
    genre=st.text(min_size=1, max_size=64), ids=valid_ids(), start=_times, event=_times,
    duration=st.integers(0, 21_600_000),
)  # fmt: skip
def test_signing_bytes_and_mac_of_a_protocol_decoded_event(
    genre: str, ids: str, start: datetime, event: datetime, duration: int
) -> None:
    model = sealing.sign_play(
        KEY,
        PlayEvent(
            event_id=ids, user_id=ids, session_id=ids, client_id=ids, track_id=ids,
            operation_type="pause", start_time=start, event_time=event, duration_ms=duration,
            genre=genre, mac="0" * 64,
        ),
    )  # fmt: skip
    play = play_of(model)
    if start.year >= 1000 and event.year >= 1000:
        assert signing_bytes(play) == sealing.play_signing_bytes(model)
    assert mac_ok(KEY, play), "the protocol has the last word for what it decoded"
    forged = play_of(model.model_copy(update={"mac": "f" * 64}))
    assert not mac_ok(KEY, forged)


@pytest.mark.parametrize("genre", ["rock", 'r\u00f6ck "quoted"', "\\", "\u2028"])
def test_an_accepted_row_decodes_to_the_model(genre: str) -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    event = PlayEvent(
        event_id="event-0001", user_id="user-0001", session_id="session-01",
        client_id="client-001", track_id="t1", operation_type="end", start_time=at,
        event_time=at + timedelta(seconds=3), duration_ms=1000, genre=genre, mac="0" * 64,
    )  # fmt: skip
    now = at + timedelta(seconds=4)
    expected = AcceptedPlay(
        event_id=event.event_id, user_id=event.user_id, track_id=event.track_id,
        operation_type=event.operation_type, start_time=event.start_time,
        event_time=event.event_time, duration_ms=event.duration_ms, genre=event.genre,
        accepted_at=now,
    )  # fmt: skip
    for play in (decode_play(encode(event)), play_of(event)):
        row = accepted_row(play, wire_time(now))._asdict()
        assert (
            decode_object({**row, "version": 1, "type": "play_accepted"}, AcceptedPlay) == expected
        )
        assert tuple(row) == tuple(name for name, _ in COLUMNS[2:])  # the frame's columns
