"""Accepted plays travel in frames: one Kafka record, many ``AcceptedPlay`` plays.

A frame takes one of three forms, told apart by its first bytes:

* **columnar** (what the server sends): ``COLUMNS_MAGIC``, a length, and zstd of one Arrow
  IPC stream holding exactly the columns of ``AcceptedPlay`` (``COLUMNS``; timestamps as
  their wire text). A reader takes the columns as they are: the stream processor spent
  most of its batch time parsing JSON, and reading columns costs it ~3x less CPU per play.
* **packed**: ``PACKED_MAGIC``, a length, and zstd of a plain frame;
* **plain**: ``AcceptedPlay`` objects, each the model's own compact JSON on one line
  (``{`` to ``}``), joined by a single ``\\n``. A single AcceptedPlay JSON record is a frame
  of one, so a producer that sends plays one by one is still understood.

One record per play cost the processor ~20 µs of JVM time per play (Kafka record overhead,
Spark's JSON parse), which capped the charts far below the rate the server accepts; a frame
moves up to ``MAX_FRAME_PLAYS`` plays in one record. Frames stay small enough for Kafka's
default 1 MiB record limit, and a user's plays keep to one partition (the producer chooses
the partition from the user id), so per-user order holds as it did with one record per play.

A compressed frame is checked before it is opened: its declared length must be within the
frame limit and must be exactly what the data decompresses to. A columnar frame's stream is
then checked in full (its columns and their types, 1 to ``MAX_FRAME_PLAYS`` rows, offsets,
UTF-8) before any value is read; its values meet the same rules as a JSON play's
(``codec.decode_object``).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from bluetrack.protocol.codec import decode, decode_object
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.plays import AcceptedPlay

SEPARATOR = b"\n"
MAX_FRAME_PLAYS = 1000
MAX_FRAME_BYTES = 900 * 1024  # under Kafka's default max.message.bytes (1 MiB) with headroom
PACKED_MAGIC = b"\x00zst"  # a plain frame starts with "{": the two cannot be confused
COLUMNS_MAGIC = b"\x00arw"  # a columnar frame: the plays as one Arrow IPC stream
_LENGTH = struct.Struct(">I")
_HEADER = len(PACKED_MAGIC) + _LENGTH.size
ZSTD_LEVEL = 1  # ~500 MB/s on one core; levels above it buy a few % for half the speed


class FramePackingError(ValueError):
    """A packed frame that does not open: bad header, too large, or corrupt data."""


def pack_frame(frame: bytes, magic: bytes = PACKED_MAGIC) -> bytes:
    """The packed form of a plain frame (see the module's docstring)."""
    packed: bytes = _zstd().compress(frame, asbytes=True)
    return magic + _LENGTH.pack(len(frame)) + packed


def is_packed(value: bytes) -> bool:
    return value[: len(PACKED_MAGIC)] == PACKED_MAGIC


def is_columnar(value: bytes) -> bool:
    return value[: len(COLUMNS_MAGIC)] == COLUMNS_MAGIC


def unpack_frame(value: bytes) -> bytes:
    """The plain frame inside ``value`` (``value`` itself if it is not packed)."""
    if not is_packed(value):
        return value
    return _opened(value)


def _opened(value: bytes) -> bytes:
    """The content of a packed or columnar frame, its header checked first."""
    if len(value) < _HEADER:
        raise FramePackingError("a packed frame shorter than its header")
    (length,) = _LENGTH.unpack_from(value, len(PACKED_MAGIC))
    if not 0 < length <= MAX_FRAME_BYTES:
        raise FramePackingError(
            f"a packed frame declaring {length} bytes (1 to {MAX_FRAME_BYTES} allowed)"
        )
    try:
        # zstd must fill exactly ``length`` bytes: a longer or shorter content is an error.
        return bytes(_zstd().decompress(value[_HEADER:], decompressed_size=length, asbytes=True))
    except (OSError, ValueError) as exc:  # pyarrow reports corrupt data as OSError
        raise FramePackingError(f"a packed frame that does not open: {exc}") from exc


# --- columnar frames -----------------------------------------------------------------------------
# The server's form: the plays of a frame as one Arrow IPC stream with exactly the columns
# of ``AcceptedPlay`` (timestamps as their wire text), inside the zstd container. A reader
# takes the columns as they are instead of parsing JSON: ~5x less CPU per play in the
# stream processor, whose batch time was mostly that parse.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("version", "int64"),
    ("type", "string"),
    ("event_id", "string"),
    ("user_id", "string"),
    ("track_id", "string"),
    ("operation_type", "string"),
    ("start_time", "string"),
    ("event_time", "string"),
    ("duration_ms", "int64"),
    ("genre", "string"),
    ("accepted_at", "string"),
)  # AcceptedPlay's fields in order; a unit test pins them to the model


@functools.cache
def columns_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in COLUMNS])


def columnar_frame(columns: dict[str, list[Any]]) -> bytes:
    """A columnar frame of ``columns`` (every name of ``COLUMNS``, equal lengths)."""
    import pyarrow as pa

    table = pa.table(columns, schema=columns_schema())
    if not 0 < table.num_rows <= MAX_FRAME_PLAYS:
        raise ValueError(f"a frame holds 1 to {MAX_FRAME_PLAYS} plays, not {table.num_rows}")
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    body = sink.getvalue().to_pybytes()
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return pack_frame(body, COLUMNS_MAGIC)


def read_columns(value: bytes) -> Any:
    """The plays of a columnar frame as an Arrow table, its layout checked in full (the
    columns, their types, 1 to MAX_FRAME_PLAYS rows, offsets and UTF-8 all valid), or
    FramePackingError. Only the values are left to the model's rules."""
    import pyarrow as pa

    body = pa.py_buffer(_opened(value))
    try:
        # Two passes on purpose: headers first, then the stream reader. Reading each batch
        # from its message (``ipc.read_record_batch``) in one pass crashed the process
        # (SIGSEGV) on mutated frames that ``open_stream`` refuses cleanly.
        _refuse_compressed_buffers(body)
        reader = pa.ipc.open_stream(body)
        if not reader.schema.equals(columns_schema()):
            raise FramePackingError(f"a columnar frame with other columns: {reader.schema}")
        table = reader.read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, FramePackingError):
            raise
        raise FramePackingError(f"a columnar frame that does not read: {exc}") from exc
    if not 0 < table.num_rows <= MAX_FRAME_PLAYS:
        raise FramePackingError(
            f"a columnar frame of {table.num_rows} plays (1 to {MAX_FRAME_PLAYS} allowed)"
        )
    return table


def _refuse_compressed_buffers(body: Any) -> None:
    """Refuse a stream whose record batches compress their buffers, before they are read.

    Arrow decompresses such buffers to whatever size they declare: a 900-KiB frame of
    zstd'd zeros could declare tens of GB and kill the reader, and Spark would hand the same
    record to every restart. The frame is compressed as a whole already, so the server never
    compresses buffers; whether a batch does is a field of its flatbuffer header, read here
    by hand (pyarrow does not expose it).
    """
    import pyarrow as pa

    for message in pa.ipc.MessageReader.open_stream(body):
        if message.type == "record batch" and _has_body_compression(message.metadata):
            raise FramePackingError(
                "a columnar frame with compressed buffers (only the frame as a whole may be)"
            )


_RECORD_BATCH = 3  # MessageHeader.RecordBatch in Arrow's Message.fbs


def _has_body_compression(metadata: Any) -> bool:
    """Message.header is a RecordBatch whose ``compression`` (field 3) is set."""
    buf = metadata.to_pybytes()
    try:
        root = struct.unpack_from("<I", buf, 0)[0]
        kind_at = _field_at(buf, root, 1)  # Message.header_type
        header_at = _field_at(buf, root, 2)  # Message.header
        if kind_at is None or buf[kind_at] != _RECORD_BATCH or header_at is None:
            raise FramePackingError("a columnar frame with a malformed batch header")
        batch = header_at + struct.unpack_from("<I", buf, header_at)[0]
        return _field_at(buf, batch, 3) is not None  # RecordBatch.compression
    except (struct.error, IndexError) as exc:
        raise FramePackingError("a columnar frame with a malformed batch header") from exc


def _field_at(buf: bytes, table: int, field: int) -> int | None:
    """Where field ``field`` of the flatbuffer table at ``table`` is, None if absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    if vtable < 0:
        raise FramePackingError("a columnar frame with a malformed batch header")
    size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * field
    if slot + 2 > size:
        return None
    offset = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + offset if offset else None


@functools.cache
def _zstd() -> Any:
    # Imported here: the client imports this package and has no other use for pyarrow.
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=ZSTD_LEVEL)


def frames_of(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Pack AcceptedPlay JSON lines into as few frames as the limits allow, in order."""
    pending: list[bytes] = []
    size = 0
    for line in lines:
        if pending and (len(pending) >= MAX_FRAME_PLAYS or size + len(line) + 1 > MAX_FRAME_BYTES):
            yield SEPARATOR.join(pending)
            pending, size = [], 0
        pending.append(line)
        size += len(line) + 1
    if pending:
        yield SEPARATOR.join(pending)


def frame_lines(value: bytes) -> list[bytes]:
    """The play lines of a plain or packed frame."""
    return unpack_frame(value).split(SEPARATOR)


def play_count(value: bytes) -> int:
    """How many plays a frame of any form holds (its layout read, its plays not checked)."""
    if is_columnar(value):
        return int(read_columns(value).num_rows)
    return len(frame_lines(value))


def decode_frame(value: bytes | None) -> list[AcceptedPlay]:
    """Every play of a frame, each decoded by the protocol; DecodeError names the bad line.

    Strict about the layout, so a reader can check it at the byte level: each line is one
    JSON object from its ``{`` to its ``}``, and lines are joined by a single ``\n``.
    """
    if value is None:
        raise DecodeError("empty message")
    try:
        if is_columnar(value):
            return _columnar_plays(read_columns(value))
        value = unpack_frame(value)
    except FramePackingError as exc:
        raise DecodeError(str(exc)) from exc
    if len(value) > MAX_FRAME_BYTES:
        raise DecodeError(
            f"frame of {len(value)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit",
            ErrorCode.MESSAGE_TOO_LARGE,
        )
    if not value:
        raise DecodeError("a frame with no plays")
    lines = frame_lines(value)
    if len(lines) > MAX_FRAME_PLAYS:
        raise DecodeError(f"frame of {len(lines)} plays exceeds the {MAX_FRAME_PLAYS}-play limit")
    return [_play(number, line) for number, line in enumerate(lines, start=1)]


def _play(number: int, line: bytes) -> AcceptedPlay:
    if not (line.startswith(b"{") and line.endswith(b"}")):
        raise DecodeError(f"play {number} of the frame: not one JSON object from {{ to }}")
    try:
        return decode(line, AcceptedPlay, max_bytes=MAX_FRAME_BYTES)
    except DecodeError as exc:
        raise DecodeError(f"play {number} of the frame: {exc}", exc.code) from exc


def _columnar_plays(table: Any) -> list[AcceptedPlay]:
    plays = []
    for number, row in enumerate(table.to_pylist(), start=1):
        try:
            plays.append(decode_object(row, AcceptedPlay))
        except DecodeError as exc:
            raise DecodeError(f"play {number} of the frame: {exc}", exc.code) from exc
    return plays
