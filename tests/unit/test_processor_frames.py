"""The processor's frame reader: the model's own rules, vectorised, and the same verdicts.

The reader's schema and checks are derived from AcceptedPlay; here each broken field gets
the model's reason, and for generated frames the reader refuses exactly what the protocol's
``decode_frame`` refuses (it may be stricter only where the server never writes: see the
allow-list below).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bluetrack.processor.frames import ENGINE_READS, FrameReader, read_frames
from bluetrack.protocol.columns import FrameRefused, wire_schema
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import (
    COLUMNS,
    COLUMNS_MAGIC,
    MAX_FRAME_PLAYS,
    columnar_frame,
    columns_schema,
    decode_frame,
    pack_frame,
)
from bluetrack.protocol.plays import AcceptedPlay

GOOD: dict[str, Any] = {
    "version": 1,
    "type": "play_accepted",
    "event_id": "event-0001",
    "user_id": "listener-01",
    "track_id": "track-1",
    "operation_type": "start",
    "start_time": "2026-01-01T00:00:00.000Z",
    "event_time": "2026-01-01T02:00:01.500+02:00",
    "duration_ms": 180000,
    "genre": "rock",
    "accepted_at": "2026-01-01T00:00:02Z",
}
CASES: list[tuple[dict[str, Any], str]] = [
    ({"operation_type": "rewind"}, "operation_type: not one of"),
    ({"duration_ms": -1}, "duration_ms: less than 0"),
    ({"duration_ms": 7 * 3600 * 1000}, "duration_ms: greater than"),
    ({"duration_ms": 1.5}, "not JSON lines of AcceptedPlay"),
    ({"event_id": None}, "event_id: missing"),
    ({"user_id": "short"}, "user_id: shorter than 8"),
    ({"user_id": "has spaces!"}, "user_id: does not match"),
    ({"user_id": "trailing-newline\n"}, "user_id: does not match"),
    ({"genre": "g" * 65}, "genre: longer than 64"),
    ({"start_time": "2026-01-01T00:00:00"}, "start_time: not an ISO-8601 timestamp"),
    ({"event_time": "2026-13-01T00:00:00Z"}, "event_time: not an ISO-8601 timestamp"),
    ({"type": "play_event"}, "type: not one of play_accepted"),
    ({"type": None}, "type: must be 'play_accepted'"),
    ({"version": 2}, "version: only 1 is supported"),
    ({"version": None}, "version: only 1 is supported"),
    ({"extra": 1}, "not JSON lines of AcceptedPlay"),
]
# Stricter than the protocol only where the server never writes such lines: numbers as
# strings and whole floats (pydantic's lax mode would coerce them), and a missing version
# (the codec defaults it; Arrow cannot tell missing from null, which the codec refuses).
STRICTER: list[tuple[dict[str, Any], str]] = [
    ({**GOOD, "duration_ms": "5"}, "not JSON lines of AcceptedPlay"),
    ({**GOOD, "duration_ms": 5.0}, "not JSON lines of AcceptedPlay"),
    ({k: v for k, v in GOOD.items() if k != "version"}, "version: only 1"),
]
READER = FrameReader()


def line(**change: Any) -> bytes:
    return json.dumps({**GOOD, **change}).encode()


def test_the_wire_schema_is_the_model() -> None:
    assert wire_schema().names == list(AcceptedPlay.model_fields)


@pytest.mark.parametrize(("change", "reason"), CASES)
def test_each_broken_field_is_refused_with_the_models_reason(
    change: dict[str, Any], reason: str
) -> None:
    frame = line() + b"\n" + line(**change)
    with pytest.raises(FrameRefused) as refused:
        READER.read(frame)
    assert reason in str(refused.value)
    if "not JSON" not in reason:  # a rule broken by a parsed play names that play
        assert str(refused.value).startswith("play 2: ")
    with pytest.raises(DecodeError):  # the protocol agrees the frame is invalid
        decode_frame(frame)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"", "no plays"),
        (b"{oops", "not JSON lines"),
        (json.dumps(GOOD).encode() + b" trailing junk", "each line must be one object"),
        (json.dumps(GOOD).replace('"', "'").encode(), "not JSON lines"),
        (json.dumps(GOOD).encode() + b" " + json.dumps(GOOD).encode(), "one JSON object per line"),
        (line() + line(), "one JSON object per line"),
        (b"\n".join([line()] * (MAX_FRAME_PLAYS + 1)), "play limit"),
        (b"[1, 2]", "each line must be one object"),
        (line() + b"\n\n" + line(), "each line must be one object"),
        (line() + b"\n", "each line must be one object"),
        (b" " + line(), "each line must be one object"),
        (line() + b"\r\n" + line(), "each line must be one object"),
        (line() + b"\n " + line(), "each line must be one object"),
        # Each of these crashed the process inside pyarrow's JSON reader.
        (b"null", "each line must be one object"),
        (b" null", "each line must be one object"),
        (line() + b"\nnull", "each line must be one object"),
        (line(genre="ro\udcffck").replace(b"\\udcff", b"\xff"), "not UTF-8"),
    ],
)
def test_a_broken_frame_is_refused_whole(value: bytes | None, reason: str) -> None:
    with pytest.raises(FrameRefused, match=reason):
        READER.read(value)


@pytest.mark.parametrize(("fields", "reason"), STRICTER)
def test_the_reader_is_stricter_than_the_protocol_only_here(
    fields: dict[str, Any], reason: str
) -> None:
    frame = json.dumps(fields).encode()
    with pytest.raises(FrameRefused, match=reason):
        READER.read(frame)
    assert decode_frame(frame)  # the protocol takes it


def test_a_valid_play_reaches_the_engine_in_epoch_ms() -> None:
    table = READER.read(line())
    play = AcceptedPlay.model_validate(GOOD)
    row = table.select(list(ENGINE_READS)).to_pylist()[0]
    assert row == {
        "user_id": play.user_id,
        "operation_type": play.operation_type,
        "event_time_ms": int(play.event_time.timestamp() * 1000),
        "duration_ms": play.duration_ms,
        "genre": play.genre,
    }


def test_a_batch_keeps_good_frames_and_refuses_bad_ones_by_index() -> None:
    good = b"\n".join([line(), line(user_id="listener-02")])
    read = read_frames([good, b"{oops}", None, line()], [10, 20, 30, 40])
    assert read.plays.num_rows == 3
    assert read.plays.column("user_id").to_pylist() == ["listener-01", "listener-02", "listener-01"]
    assert read.produced_ms.tolist() == [10, 10, 40]
    assert [index for index, _ in read.refused] == [1, 2]


def test_the_one_document_path_refuses_only_the_frames_with_broken_rows() -> None:
    # Every frame parses, so the batch is read as one document; rules refuse frames 1 and 3.
    frames = [
        line(),
        b"\n".join([line(user_id="listener-02"), line(duration_ms=-1)]),
        line(user_id="listener-03"),
        b"\n".join([line(user_id="listener-04"), line(event_time="2026-02-30T00:00:00Z")]),
    ]
    read = read_frames(frames, [1, 2, 3, 4])
    assert read.plays.column("user_id").to_pylist() == ["listener-01", "listener-03"]
    assert read.produced_ms.tolist() == [1, 3]
    assert read.refused == [
        (1, "play 2: duration_ms: less than 0"),
        (3, "play 2: event_time: not an ISO-8601 timestamp with a timezone"),
    ]


def test_both_paths_give_the_same_verdicts() -> None:
    frames: list[bytes | None] = [line(), line(duration_ms=-1), line(user_id="listener-09")]
    together = read_frames(frames, [1, 2, 3])
    apart = read_frames([*frames, b"{not json}"], [1, 2, 3, 4])  # forces frame by frame
    assert apart.refused[:-1] == together.refused
    assert apart.plays.equals(together.plays)


def test_an_empty_batch_has_the_engine_columns() -> None:
    read = read_frames([], [])
    assert read.plays.num_rows == 0 and read.plays.column_names == list(ENGINE_READS)
    assert read.produced_ms.dtype == np.int64


# --- agreement with the protocol on generated lines ----------------------------------------
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=70)
IDS = st.one_of(st.from_regex(r"\A[A-Za-z0-9_\-]{8,64}\Z"), TEXT)
TIMES = st.one_of(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(["2026-01-01T00:00:00", "2026-02-30T00:00:00Z", "x", ""]),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "version": st.sampled_from([1, 1, 1, 2, 0]),
    "type": st.sampled_from(["play_accepted"] * 4 + ["play_event"]),
    "event_id": IDS,
    "user_id": IDS,
    "track_id": st.one_of(st.from_regex(r"\A[A-Za-z0-9_\-]{0,64}\Z"), TEXT),
    "operation_type": st.sampled_from(["start", "stop", "pause", "resume", "end", "logout", "x"]),
    "start_time": TIMES,
    "event_time": TIMES,
    "duration_ms": st.integers(min_value=-5, max_value=7 * 3600 * 1000),
    "genre": TEXT,
    "accepted_at": TIMES,
}


@st.composite
def play_lines(draw: st.DrawFn) -> bytes:
    data = {name: draw(values) for name, values in FIELD_VALUES.items()}
    # Not the version: a missing one is the reader's one documented strictness (STRICTER).
    dropped = draw(st.sets(st.sampled_from(sorted(set(FIELD_VALUES) - {"version"})), max_size=1))
    return json.dumps({k: v for k, v in data.items() if k not in dropped}).encode()


def _protocol_accepts(frame: bytes) -> bool:
    try:
        decode_frame(frame)
    except DecodeError:
        return False
    return True


def _reader_accepts(frame: bytes) -> bool:
    try:
        READER.read(frame)
    except FrameRefused:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(play_lines(), min_size=1, max_size=4))
def test_the_reader_and_the_protocol_agree(lines: list[bytes]) -> None:
    frame = b"\n".join(lines)
    assert _reader_accepts(frame) == _protocol_accepts(frame), frame


def test_pydantic_refuses_every_case_the_reader_refuses_by_rule() -> None:
    for change, _ in CASES:
        with pytest.raises((ValidationError, DecodeError)):
            decode_frame(line(**change))


def test_the_reader_gives_arrow_tables() -> None:
    assert isinstance(READER.read(line()), pa.Table)


def test_an_executor_packs_valid_plays_into_one_row_and_reports_each_refusal() -> None:
    from bluetrack.processor.frames import read_record_batches, unpack

    kafka = pa.RecordBatch.from_pydict(
        {
            "value": pa.array([b"\n".join([line(), line()]), b"{bad}", None], pa.binary()),
            "key": pa.array([None, b"k", None], pa.binary()),
            "partition": pa.array([0, 1, 2], pa.int32()),
            "offset": pa.array([5, 6, 7], pa.int64()),
            "produced_ms": pa.array([10, 20, 30], pa.int64()),
        }
    )
    (out,) = list(read_record_batches(iter([kafka])))
    assert out.num_rows == 3  # one packed row, two refusals
    assert out.column("offset").to_pylist() == [None, 6, 7]
    assert out.column("key").to_pylist() == [None, b"k", None]
    assert out.column("value").to_pylist() == [None, b"{bad}", None]
    reasons = out.column("reject_reason").to_pylist()
    assert reasons[0] is None and "not JSON lines" in reasons[1] and reasons[2] == "empty message"
    plays = unpack([out.column("plays")[0].as_py()])
    assert plays.column("produced_ms").to_pylist() == [10, 10]
    assert (
        plays.select(list(ENGINE_READS)).to_pylist()
        == [READER.read(line()).select(list(ENGINE_READS)).to_pylist()[0]] * 2
    )


def test_a_packed_frame_reads_as_its_plain_frame() -> None:
    plain = b"\n".join([line(), line(user_id="listener-02")])
    packed = read_frames([pack_frame(plain), plain], [1, 2])
    assert packed.refused == []
    assert packed.plays.slice(0, 2).equals(packed.plays.slice(2, 2))


def test_a_packed_frame_is_refused_for_its_header_its_body_or_its_plays() -> None:
    good = pack_frame(line())
    bad_length = good[:4] + (10**6).to_bytes(4, "big") + good[8:]
    read = read_frames(
        [good[:-2], bad_length, pack_frame(line(duration_ms=-1)), good], [1, 2, 3, 4]
    )
    assert read.plays.num_rows == 1 and read.produced_ms.tolist() == [4]
    reasons = dict(read.refused)
    assert "a packed frame that does not open" in reasons[0]
    assert "declaring 1000000 bytes" in reasons[1]
    assert reasons[2] == "play 1: duration_ms: less than 0"
    with pytest.raises(FrameRefused, match="does not open"):
        READER.read(good[:-2])


# --- columnar frames (the server's form) ----------------------------------------------------------
@st.composite
def play_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A play's values as a columnar frame holds them: any value of FIELD_VALUES, or null."""
    row = {name: draw(values) for name, values in FIELD_VALUES.items()}
    nulled = draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=1))
    return {name: None if name in nulled else value for name, value in row.items()}


def _columnar(rows: list[dict[str, Any]]) -> bytes:
    return columnar_frame({name: [row[name] for row in rows] for name, _ in COLUMNS})


@settings(max_examples=400, deadline=None)
@given(st.lists(play_rows(), min_size=1, max_size=4))
def test_the_reader_and_the_protocol_agree_on_columnar_frames(rows: list[dict[str, Any]]) -> None:
    frame = _columnar(rows)
    assert _reader_accepts(frame) == _protocol_accepts(frame), rows


def test_the_columns_are_the_models() -> None:
    assert wire_schema(AcceptedPlay).equals(columns_schema())


def test_a_columnar_frame_reads_as_the_json_frame_of_the_same_plays() -> None:
    rows = [{**GOOD, "user_id": f"listener-{n:02d}"} for n in range(5)]
    read = read_frames(
        [_columnar(rows), b"\n".join(json.dumps(row).encode() for row in rows)], [1, 2]
    )
    assert read.refused == []
    assert read.plays.slice(0, 5).equals(read.plays.slice(5, 5))
    assert read.produced_ms.tolist() == [1] * 5 + [2] * 5


def test_a_columnar_frame_is_refused_for_its_layout_or_its_plays() -> None:
    good = _columnar([GOOD])
    other_columns = pack_frame(_ipc(pa.table({"user_id": ["listener-01"]})), COLUMNS_MAGIC)
    empty = pack_frame(_ipc(columns_schema().empty_table()), COLUMNS_MAGIC)
    read = read_frames(
        [good, other_columns, empty, _columnar([GOOD, {**GOOD, "duration_ms": -1}]), good[:-3]],
        [1, 2, 3, 4, 5],
    )
    assert read.plays.num_rows == 1 and read.produced_ms.tolist() == [1]
    reasons = dict(read.refused)
    assert "a columnar frame with other columns" in reasons[1]
    assert "a columnar frame of 0 plays" in reasons[2]
    assert reasons[3] == "play 2: duration_ms: less than 0"
    assert "does not open" in reasons[4]
    for index in (1, 2, 3, 4):
        with pytest.raises(FrameRefused):
            READER.read([good, other_columns, empty, _columnar([{**GOOD, "duration_ms": -1}]),
                         good[:-3]][index])  # fmt: skip


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())
