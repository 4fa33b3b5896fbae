"""Frames: many AcceptedPlay JSON lines in one record, within Kafka's limits, in order;
packed (zstd) as the server sends them, or plain."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from bluetrack.protocol.codec import encode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import (
    COLUMNS,
    COLUMNS_MAGIC,
    MAX_FRAME_BYTES,
    MAX_FRAME_PLAYS,
    PACKED_MAGIC,
    FramePackingError,
    columnar_frame,
    columns_schema,
    decode_frame,
    frame_lines,
    frames_of,
    is_columnar,
    is_packed,
    pack_frame,
    play_count,
    unpack_frame,
)
from bluetrack.protocol.plays import AcceptedPlay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def play(n: int, genre: str = "rock") -> AcceptedPlay:
    return AcceptedPlay(
        event_id=f"event-{n:08d}",
        user_id=f"user-{n % 7:08d}",
        track_id=f"track{n}",
        operation_type="start",
        start_time=T0 + timedelta(seconds=n),
        event_time=T0 + timedelta(seconds=n),
        duration_ms=180_000,
        genre=genre,
        accepted_at=T0 + timedelta(seconds=n),
    )


def test_a_frame_round_trips_its_plays_in_order() -> None:
    plays = [play(n) for n in range(25)]
    frames = list(frames_of(encode(p) for p in plays))
    assert len(frames) == 1
    assert decode_frame(frames[0]) == plays


def test_frames_respect_the_play_limit_and_keep_order() -> None:
    plays = [play(n) for n in range(MAX_FRAME_PLAYS * 2 + 3)]
    frames = list(frames_of(encode(p) for p in plays))
    assert [len(frame_lines(f)) for f in frames] == [MAX_FRAME_PLAYS, MAX_FRAME_PLAYS, 3]
    assert [p for f in frames for p in decode_frame(f)] == plays


def test_frames_respect_the_byte_limit() -> None:
    # Real plays reach the play limit first; the byte limit guards lines of any size.
    line = b"x" * 4000
    count = MAX_FRAME_BYTES // len(line) + 50
    frames = list(frames_of([line] * count))
    assert len(frames) == 2
    assert all(len(f) <= MAX_FRAME_BYTES for f in frames)
    assert sum(len(frame_lines(f)) for f in frames) == count


def test_one_play_per_record_is_a_frame_of_one() -> None:
    assert decode_frame(encode(play(3))) == [play(3)]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"", "no plays"),
        (b"\n \n", "play 1 of the frame: not one JSON object"),
        (b"\n" + encode(play(1)), "play 1 of the frame: not one JSON object"),
        (encode(play(1)) + b"\n", "play 2 of the frame: not one JSON object"),
        (encode(play(1)) + b"\n\n" + encode(play(2)), "play 2 of the frame: not one"),
        (b" " + encode(play(1)), "play 1 of the frame: not one JSON object"),
        (encode(play(1)) + b"\r\n" + encode(play(2)), "play 1 of the frame: not one"),
        (encode(play(1)) + b"\n{not json}", "play 2 of the frame: not JSON"),
        (encode(play(1)) + b" " + encode(play(2)), "play 1 of the frame: not JSON"),
        (encode(play(1)) + b"\n" + b'{"type":"play_accepted"}', "play 2 of the frame"),
        (b"x" * (MAX_FRAME_BYTES + 1), "exceeds"),
    ],
)
def test_a_bad_frame_says_what_is_wrong(value: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_frame(value)


def test_too_many_plays_in_one_frame_is_refused() -> None:
    line = encode(play(1))
    with pytest.raises(DecodeError, match="play limit"):
        decode_frame(b"\n".join([line] * (MAX_FRAME_PLAYS + 1)))


# --- packed frames --------------------------------------------------------------------------------
def _with_length(packed: bytes, length: int) -> bytes:
    return PACKED_MAGIC + length.to_bytes(4, "big") + packed[len(PACKED_MAGIC) + 4 :]


def test_a_packed_frame_holds_the_same_plays_in_fewer_bytes() -> None:
    plays = [play(n) for n in range(200)]
    [plain] = frames_of(encode(p) for p in plays)
    packed = pack_frame(plain)
    assert is_packed(packed) and not is_packed(plain)
    assert len(packed) * 3 < len(plain)
    assert unpack_frame(packed) == plain
    assert decode_frame(packed) == plays
    assert frame_lines(packed) == frame_lines(plain)


def test_a_plain_frame_is_left_as_it_is() -> None:
    plain = encode(play(1))
    assert unpack_frame(plain) is plain


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (lambda p: p[:6], "shorter than its header"),
        (lambda p: _with_length(p, 0), "declaring 0 bytes"),
        (lambda p: _with_length(p, MAX_FRAME_BYTES + 1), f"declaring {MAX_FRAME_BYTES + 1} bytes"),
        (lambda p: _with_length(p, len(unpack_frame(p)) - 1), "does not open"),
        (lambda p: _with_length(p, len(unpack_frame(p)) + 1), "does not open"),
        (lambda p: p[:-3], "does not open"),
        (lambda p: p + b"junk", "does not open"),
        (lambda p: p[:12] + bytes([p[12] ^ 0xFF]) + p[13:], "does not open"),
    ],
)
def test_a_damaged_packed_frame_is_refused_before_its_plays_are_read(
    spoil: Callable[[bytes], bytes], reason: str
) -> None:
    packed = pack_frame(b"\n".join(encode(play(n)) for n in range(20)))
    with pytest.raises(FramePackingError, match=reason):
        unpack_frame(spoil(packed))
    with pytest.raises(DecodeError, match=reason):
        decode_frame(spoil(packed))


def test_a_packed_frame_is_held_to_the_plain_frames_rules() -> None:
    with pytest.raises(DecodeError, match="play 2 of the frame"):
        decode_frame(pack_frame(encode(play(1)) + b"\n{not json}"))
    with pytest.raises(DecodeError, match="play limit"):
        decode_frame(pack_frame(b"\n".join([encode(play(1))] * (MAX_FRAME_PLAYS + 1))))


# --- columnar frames ------------------------------------------------------------------------------
def _columns(plays: list[AcceptedPlay]) -> dict[str, list[object]]:
    rows = [json.loads(encode(p)) for p in plays]
    return {name: [row[name] for row in rows] for name, _ in COLUMNS}


def test_a_columnar_frame_holds_the_same_plays() -> None:
    plays = [play(n) for n in range(30)]
    frame = columnar_frame(_columns(plays))
    assert is_columnar(frame) and not is_packed(frame)
    assert decode_frame(frame) == plays
    assert play_count(frame) == 30
    assert play_count(pack_frame(b"\n".join(encode(p) for p in plays))) == 30


def test_a_columnar_frame_names_the_play_that_breaks_a_rule() -> None:
    columns = _columns([play(1), play(2)])
    columns["duration_ms"][1] = -1
    with pytest.raises(DecodeError, match="play 2 of the frame"):
        decode_frame(columnar_frame(columns))
    columns = _columns([play(1)])
    columns["version"] = [None]
    with pytest.raises(DecodeError, match="schema version None"):
        decode_frame(columnar_frame(columns))


def test_a_columnar_frame_that_does_not_read_is_refused() -> None:
    frame = columnar_frame(_columns([play(1)]))
    body = unpack_frame(PACKED_MAGIC + frame[len(COLUMNS_MAGIC) :])  # the IPC stream
    for spoiled in (body[: len(body) // 2], body[:40] + b"\xff" * 8 + body[48:], b"{}"):
        with pytest.raises(DecodeError, match="columnar frame"):
            decode_frame(pack_frame(spoiled, COLUMNS_MAGIC))
    with pytest.raises(ValueError, match="1 to 1000 plays"):
        columnar_frame(_columns([play(1)] * (MAX_FRAME_PLAYS + 1)))


def _ipc_stream(table: pa.Table, compression: str | None) -> bytes:
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def test_a_columnar_frame_with_compressed_buffers_is_refused_before_they_are_opened() -> None:
    # Arrow would open such buffers to any size they declare (a zstd bomb); the server
    # never compresses buffers, only the frame as a whole.
    plays = pa.table(_columns([play(1), play(2)]), schema=columns_schema())
    for compression in ("zstd", "lz4"):
        with pytest.raises(DecodeError, match="compressed buffers"):
            decode_frame(pack_frame(_ipc_stream(plays, compression), COLUMNS_MAGIC))
    assert decode_frame(pack_frame(_ipc_stream(plays, None), COLUMNS_MAGIC)) == [play(1), play(2)]
