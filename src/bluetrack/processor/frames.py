"""Frames of accepted plays -> engine columns, with the protocol's checks, vectorised.

Each Kafka record on the accepted topic is a frame (protocol/frames.py): AcceptedPlay JSON
lines, packed (zstd) or plain; a packed one is opened first, its header checked. The reader
parses a frame with one call of Arrow's JSON reader against a schema
derived from the model, then checks every constraint of the model (required fields,
``Literal`` choices, lengths, patterns, bounds, timezone-aware timestamps) and the codec's
envelope rules as column operations. A frame that breaks any rule is refused whole and
dead-lettered with the first reason: frames come from the server, so a bad line means a bad
producer, and none of its plays should count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bluetrack.protocol.columns import (
    FrameRefused,
    ModelColumns,
    wire_schema,
)
from bluetrack.protocol.frames import (
    MAX_FRAME_BYTES,
    MAX_FRAME_PLAYS,
    SEPARATOR,
    FramePackingError,
    is_columnar,
    read_columns,
    unpack_frame,
)

# The columns of the engine's batch contract (processor.engine.BATCH_DTYPES) that
# ChartEngine.step reads: copies of an event are one (user, time, operation) tie to it, so it
# needs no event id. Timestamps are int64 epoch ms.
ENGINE_READS: tuple[str, ...] = (
    "user_id",
    "operation_type",
    "event_time_ms",
    "duration_ms",
    "genre",
)


# --- frames --------------------------------------------------------------------------------------
class _SlowPath(Exception):
    """The batch cannot be read in one go; read it frame by frame to find the bad ones."""


# The protocol's frame rule: each line one object from "{" to "}", lines joined by one
# "\n". So a frame starts with "{", ends with "}", and every "\n" sits in a "}\n{". (A bare
# ``null`` opening a document crashes pyarrow 21's JSON reader with SIGSEGV: never sent.)
_JOINT = b"}" + SEPARATOR + b"{"


def opened(value: bytes | None) -> bytes:
    """The plain frame of a record (packed or not); FrameRefused if a packed one does not open."""
    if value is None:
        raise FrameRefused("empty message")
    try:
        return unpack_frame(value)
    except FramePackingError as exc:
        raise FrameRefused(str(exc)) from exc


def columns_of(value: bytes) -> pa.Table:
    """The plays of a columnar frame, its layout checked (protocol.frames.read_columns)."""
    try:
        table: pa.Table = read_columns(value)
    except FramePackingError as exc:
        raise FrameRefused(str(exc)) from exc
    return table


def precheck(value: bytes | None) -> int:
    """The plain frame's line count, from byte-level checks alone; FrameRefused if it breaks
    one."""
    if value is None:
        raise FrameRefused("empty message")
    if not value:
        raise FrameRefused("a frame with no plays")
    if len(value) > MAX_FRAME_BYTES:
        raise FrameRefused(f"frame exceeds the {MAX_FRAME_BYTES}-byte limit")
    lines = value.count(SEPARATOR) + 1
    if value[:1] != b"{" or value[-1:] != b"}" or value.count(_JOINT) != lines - 1:
        raise FrameRefused("not JSON lines: each line must be one object, { to }")
    if lines > MAX_FRAME_PLAYS:
        raise FrameRefused(f"frame exceeds the {MAX_FRAME_PLAYS}-play limit")
    try:
        # Arrow's JSON reader does not check UTF-8, and its string kernels assume it.
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameRefused(f"not UTF-8 text: {exc}") from exc
    return lines


@dataclass(frozen=True, slots=True)
class FrameReader(ModelColumns):
    """Parses and checks frames against ``model`` (the accepted play, unless told)."""

    def read(self, value: bytes | None) -> pa.Table:
        """One frame's plays with ``*_ms`` columns for its timestamps, or FrameRefused."""
        if value is not None and is_columnar(value):
            table = columns_of(value)
        else:
            value = opened(value)
            lines = precheck(value)
            table = self.parse(value)
            if table.num_rows != lines:
                raise FrameRefused("not one JSON object per line")
        bad = self.first_broken_rule(table)
        if bad is not None:
            row, reason = bad
            raise FrameRefused(f"play {row + 1}: {reason}")
        return self.with_ms(table)


@dataclass(slots=True)
class ReadFrames:
    """A micro-batch's frames: the plays for the engine, and the refused records."""

    plays: pa.Table  # ENGINE_READS columns, every valid frame's plays in record order
    produced_ms: np.ndarray  # the Kafka timestamp of each play's frame, for freshness
    refused: list[tuple[int, str]]  # (record index, reason), in record order


def read_frames(
    values: Sequence[bytes | None], produced_ms: Sequence[int], reader: FrameReader | None = None
) -> ReadFrames:
    """Every frame of a batch; a refused frame costs only itself.

    Columnar frames (the server's) are taken as the tables they are. JSON frames (plain or
    packed) that pass the byte-level checks are parsed as one document; only when that
    document does not parse (a frame is not JSON, or holds more objects than lines) is each
    parsed on its own. Then every rule runs once per batch, column by column; a rule broken
    anywhere refuses just the frames of the rows that broke it.
    """
    reader = reader or FrameReader()
    refused: list[tuple[int, str]] = []
    json_at: list[int] = []
    json_frames: list[bytes] = []
    lines: list[int] = []
    columns_at: list[int] = []
    tables: list[pa.Table] = []
    for index, value in enumerate(values):
        try:
            if value is not None and is_columnar(value):
                tables.append(columns_of(value))
                columns_at.append(index)
                continue
            frame = opened(value)
            lines.append(precheck(frame))
        except FrameRefused as exc:
            refused.append((index, str(exc)))
            continue
        json_at.append(index)
        json_frames.append(frame)
    parts = [(columns_at, _checked(reader, tables))] if tables else []
    if json_frames or not tables:
        try:
            parts.append((json_at, _read_together(reader, json_frames, lines)))
        except _SlowPath:
            parts.append((json_at, _read_one_by_one(reader, json_frames)))
    produced = np.asarray(produced_ms, dtype=np.int64)
    for at, read in parts:
        refused.extend((at[i], reason) for i, reason in read.refused)
    refused.sort()
    return ReadFrames(
        pa.concat_tables([read.plays.select(list(ENGINE_READS)) for _, read in parts]),
        np.concatenate(
            [produced[np.asarray(at, dtype=np.int64)][read.frame_of_row] for at, read in parts]
        ),
        refused,
    )


@dataclass(slots=True)
class _Read:
    plays: pa.Table  # with the ``*_ms`` columns
    frame_of_row: np.ndarray  # which frame (index into the list read) each play came from
    refused: list[tuple[int, str]]  # (index into the list read, reason)


def _read_together(reader: FrameReader, frames: list[bytes], lines: list[int]) -> _Read:
    if not frames:
        return _Read(reader.with_ms(_empty(reader)), np.empty(0, dtype=np.int64), [])
    try:
        table = reader.parse(SEPARATOR.join(frames), threads=True)
    except FrameRefused as exc:
        raise _SlowPath from exc
    if table.num_rows != sum(lines):
        raise _SlowPath
    return _checked_rows(reader, table, lines)


def _checked(reader: FrameReader, tables: list[pa.Table]) -> _Read:
    """Columnar frames, read: every rule once over all their rows."""
    return _checked_rows(reader, pa.concat_tables(tables), [t.num_rows for t in tables])


def _checked_rows(reader: FrameReader, table: pa.Table, lines: list[int]) -> _Read:
    """The rows of consecutive frames (``lines[i]`` rows each), with every frame that has a
    row breaking a rule left out and refused for its first broken row."""
    frame_of_row = np.repeat(np.arange(len(lines)), lines)
    starts = np.concatenate([[0], np.cumsum(lines)])
    reasons: dict[int, str] = {}
    for rows, reason in reader.broken_rules(table):
        broken_frames, first = np.unique(frame_of_row[rows], return_index=True)
        for frame, row in zip(broken_frames.tolist(), rows[first].tolist(), strict=True):
            reasons.setdefault(frame, f"play {row - int(starts[frame]) + 1}: {reason}")
    if reasons:
        keep = ~np.isin(frame_of_row, list(reasons))
        table = table.filter(pa.array(keep))
        frame_of_row = frame_of_row[keep]
    return _Read(reader.with_ms(table), frame_of_row, sorted(reasons.items()))


def _read_one_by_one(reader: FrameReader, frames: list[bytes]) -> _Read:
    tables: list[pa.Table] = []
    owners: list[np.ndarray] = []
    refused: list[tuple[int, str]] = []
    for index, frame in enumerate(frames):
        try:
            table = reader.read(frame)
        except FrameRefused as exc:
            refused.append((index, str(exc)))
            continue
        tables.append(table)
        owners.append(np.full(table.num_rows, index, dtype=np.int64))
    if not tables:
        return _Read(reader.with_ms(_empty(reader)), np.empty(0, dtype=np.int64), refused)
    return _Read(pa.concat_tables(tables), np.concatenate(owners), refused)


def _empty(reader: FrameReader) -> pa.Table:
    return wire_schema(reader.model).empty_table()


EMPTY_PLAYS = pa.schema(
    [
        ("user_id", pa.string()),
        ("operation_type", pa.string()),
        ("event_time_ms", pa.int64()),
        ("duration_ms", pa.int64()),
        ("genre", pa.string()),
    ]
)


# --- on the executors: frames in, packed plays and refusals out ---------------------------------
# ``mapInArrow`` output. The valid plays of each Arrow batch of frames travel as ONE row: an
# Arrow IPC stream of the engine columns. Spark then moves a few rows per batch instead
# of converting every play to a JVM row and back (which cost ~20 µs per play); the driver
# opens the streams and concatenates them. A refused record is a row with its reason and
# where it came from. The IPC bytes are written by our own code on the executors, never
# by a Kafka producer.
PACKED = pa.schema([*EMPTY_PLAYS, ("produced_ms", pa.int64())])
EXECUTOR_OUTPUT_DDL = (
    "plays binary, reject_reason string, partition int, offset long, key binary, value binary"
)
# Uncompressed: lz4 cost the executors ~15% and the driver's unpack half its time, to save
# bytes that only cross memory in local mode (~100 bytes a play across a network).
_IPC = pa.ipc.IpcWriteOptions(compression=None)


def read_record_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: Kafka records (value, key, partition, offset,
    produced_ms) to packed plays and one row per refused record."""
    reader = FrameReader()
    for batch in batches:
        yield _output_of(batch, reader)


def pack(plays: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, PACKED, options=_IPC) as writer:
        writer.write_table(plays, max_chunksize=1 << 20)
    return bytes(sink.getvalue())


def unpack(packed: Sequence[bytes]) -> pa.Table:
    tables = [pa.ipc.open_stream(pa.py_buffer(blob)).read_all() for blob in packed]
    return pa.concat_tables(tables) if tables else PACKED.empty_table()


def _output_of(batch: pa.RecordBatch, reader: FrameReader) -> pa.RecordBatch:
    """One row of packed plays (if any were valid), then one row per refused record."""
    values = batch.column("value").to_pylist()
    read = read_frames(values, batch.column("produced_ms").to_numpy(zero_copy_only=False), reader)
    plays = read.plays.append_column("produced_ms", pa.array(read.produced_ms, pa.int64()))
    packed = [pack(plays)] if plays.num_rows else []
    where = pa.array([index for index, _ in read.refused], pa.int64())

    def refused(column: str, kind: pa.DataType) -> pa.Array:
        taken = pc.take(batch.column(column), where).cast(kind)
        return pa.concat_arrays([pa.nulls(len(packed), kind), taken])

    return pa.RecordBatch.from_pydict(
        {
            "plays": pa.array(packed + [None] * len(read.refused), pa.binary()),
            "reject_reason": pa.array(
                [None] * len(packed) + [reason for _, reason in read.refused], pa.string()
            ),
            "partition": refused("partition", pa.int32()),
            "offset": refused("offset", pa.int64()),
            "key": refused("key", pa.binary()),
            "value": refused("value", pa.binary()),
        }
    )
