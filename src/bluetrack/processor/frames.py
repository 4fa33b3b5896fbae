"""Frames of accepted plays -> engine columns, with the protocol's checks, vectorised.

Each Kafka record on the accepted topic is a frame (protocol/frames.py): AcceptedPlay JSON
lines. The driver parses a frame with one call of Arrow's JSON reader against a schema
derived from the model, then checks every constraint of the model (required fields,
``Literal`` choices, lengths, patterns, bounds, timezone-aware timestamps) and the codec's
envelope rules as column operations. A frame that breaks any rule is refused whole and
dead-lettered with the first reason: frames come from the server, so a bad line means a bad
producer, and none of its plays should count.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from bluetrack.processor.exceptions import SchemaDerivationError
from bluetrack.protocol.codec import MAX_REQUEST_BYTES
from bluetrack.protocol.envelope import SCHEMA_VERSION
from bluetrack.protocol.frames import MAX_FRAME_BYTES, MAX_FRAME_PLAYS, SEPARATOR
from bluetrack.protocol.plays import AcceptedPlay

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


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type a JSON value of this annotation is read as (timestamps as text)."""
    annotation = _unwrap_optional(annotation)
    if get_origin(annotation) is Literal:
        if {type(v) for v in get_args(annotation)} == {str}:
            return pa.string()
        raise SchemaDerivationError(f"only string literals are supported, not {annotation}")
    if annotation is bool:
        return pa.bool_()
    if annotation is int:
        return pa.int64()
    if annotation in (str, datetime):  # datetimes are checked and converted after reading
        return pa.string()
    raise SchemaDerivationError(f"no Arrow type for {annotation!r}")


def wire_schema(model: type[BaseModel] = AcceptedPlay) -> pa.Schema:
    return pa.schema([(name, arrow_type(f.annotation)) for name, f in model.model_fields.items()])


# --- the model's constraints as column checks ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One constraint: ``bad(column)`` is true where the model refuses the value."""

    field: str
    reason: str
    bad: Callable[[pa.Array], pa.Array]


def _is_datetime(info: FieldInfo) -> bool:
    return _unwrap_optional(info.annotation) is datetime


def _missing(column: pa.Array) -> pa.Array:
    return pc.is_null(column)


def _presence_check(name: str, info: FieldInfo) -> FieldCheck | None:
    if info.is_required():
        return FieldCheck(name, f"{name}: missing or null", _missing)
    return None


def _literal_check(name: str, info: FieldInfo) -> FieldCheck | None:
    annotation = _unwrap_optional(info.annotation)
    if get_origin(annotation) is not Literal:
        return None
    choices = pa.array(list(get_args(annotation)))
    return FieldCheck(
        name,
        f"{name}: not one of {', '.join(map(str, choices.to_pylist()))}",
        lambda c: pc.invert(pc.is_in(c, value_set=choices)),
    )


def _metadata_check(name: str, constraint: Any) -> FieldCheck | None:
    """A check for one annotated-types / pydantic constraint, or None if it is not one."""
    if isinstance(constraint, annotated_types.MinLen):
        shortest = constraint.min_length
        return FieldCheck(
            name, f"{name}: shorter than {shortest}", lambda c: pc.less(pc.utf8_length(c), shortest)
        )
    if isinstance(constraint, annotated_types.MaxLen):
        longest = constraint.max_length
        return FieldCheck(
            name,
            f"{name}: longer than {longest}",
            lambda c: pc.greater(pc.utf8_length(c), longest),
        )
    if isinstance(constraint, annotated_types.Ge):
        low = constraint.ge
        return FieldCheck(name, f"{name}: less than {low}", lambda c: pc.less(c, low))
    if isinstance(constraint, annotated_types.Le):
        high = constraint.le
        return FieldCheck(name, f"{name}: greater than {high}", lambda c: pc.greater(c, high))
    pattern = getattr(constraint, "pattern", None)
    if isinstance(pattern, str):
        return FieldCheck(
            name,
            f"{name}: does not match {pattern}",
            lambda c: pc.invert(pc.match_substring_regex(c, pattern)),
        )
    return None


def field_checks(model: type[BaseModel] = AcceptedPlay) -> list[FieldCheck]:
    """Every constraint of ``model``, required-ness first so the first reason is the root one."""
    presence: list[FieldCheck] = []
    values: list[FieldCheck] = []
    for name, info in model.model_fields.items():
        if (check := _presence_check(name, info)) is not None:
            presence.append(check)
        if (check := _literal_check(name, info)) is not None:
            values.append(check)
        values.extend(c for m in info.metadata if (c := _metadata_check(name, m)) is not None)
    return presence + values


def _envelope_checks(model: type[BaseModel]) -> list[FieldCheck]:
    """The codec's rules on top of the model's: the type must be named, the version known."""
    expected_type = model.model_fields["type"].default
    return [
        FieldCheck("type", f"type: must be {expected_type!r}", _missing),
        # Arrow reads a missing and a null version alike; the codec refuses null and takes a
        # missing one as 1. The server always writes it, so both are refused here.
        FieldCheck(
            "version",
            f"version: only {SCHEMA_VERSION} is supported",
            lambda c: pc.fill_null(pc.not_equal(c, SCHEMA_VERSION), True),
        ),
    ]


def timestamp_ms(text: pa.Array) -> pa.Array:
    """ISO-8601 text with a timezone -> int64 epoch ms (null where it is not one).

    Casting to a zoned timestamp refuses text without a zone, as the protocol does.
    """
    parsed = pc.cast(text, pa.timestamp("us", tz="UTC"), safe=True)
    return pc.floor(pc.divide(pc.cast(parsed, pa.int64()), 1000.0)).cast(pa.int64())


# --- frames --------------------------------------------------------------------------------------
class FrameRefused(ValueError):
    """A frame that is not wholly valid; the message is the reason dead-lettered with it."""


@dataclass(frozen=True, slots=True)
class FrameReader:
    """Parses and checks frames against ``model`` (the accepted play, unless told)."""

    model: type[BaseModel] = AcceptedPlay

    def read(self, value: bytes | None) -> pa.Table:
        """The frame's plays with ``*_ms`` columns for its timestamps, or FrameRefused."""
        if value is None:
            raise FrameRefused("empty message")
        if len(value) > MAX_FRAME_BYTES:
            raise FrameRefused(f"frame exceeds the {MAX_FRAME_BYTES}-byte limit")
        try:
            # Arrow's JSON reader does not check UTF-8, and its string kernels assume it.
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameRefused(f"not UTF-8 text: {exc}") from exc
        lines = self._lines(value)
        table = self._parse(value)
        if table.num_rows != lines:
            raise FrameRefused("not one JSON object per line")
        return self._checked(table)

    def _lines(self, value: bytes) -> int:
        lines = [line for line in value.split(SEPARATOR) if line.strip()]
        if not lines:
            raise FrameRefused("a frame with no plays")
        if len(lines) > MAX_FRAME_PLAYS:
            raise FrameRefused(f"frame exceeds the {MAX_FRAME_PLAYS}-play limit")
        if max(map(len, lines)) > MAX_REQUEST_BYTES:
            raise FrameRefused(f"a play exceeds the {MAX_REQUEST_BYTES}-byte limit")
        # pyarrow 21's JSON reader crashes the process (SIGSEGV) on a document that starts
        # with a bare ``null``; a line that is not an object never reaches it.
        if not all(line.lstrip().startswith(b"{") for line in lines):
            raise FrameRefused(f"not JSON lines of {self.model.__name__}: a line is not an object")
        return len(lines)

    def _parse(self, value: bytes) -> pa.Table:
        try:
            return pj.read_json(
                pa.BufferReader(value),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(value) + 1),
                parse_options=pj.ParseOptions(
                    explicit_schema=wire_schema(self.model), unexpected_field_behavior="error"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise FrameRefused(f"not JSON lines of {self.model.__name__}: {exc}") from exc

    def _checked(self, table: pa.Table) -> pa.Table:
        for check in _envelope_checks(self.model) + field_checks(self.model):
            bad = pc.fill_null(check.bad(table.column(check.field)), False)
            if pc.any(bad).as_py():
                row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0]) + 1
                raise FrameRefused(f"play {row}: {check.reason}")
        for name, info in self.model.model_fields.items():
            if _is_datetime(info):
                table = self._with_ms(table, name)
        return table

    def _with_ms(self, table: pa.Table, name: str) -> pa.Table:
        column = table.column(name)
        try:
            ms = timestamp_ms(column)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            row = _first_unparsable(column) + 1
            raise FrameRefused(
                f"play {row}: {name}: not an ISO-8601 timestamp with a timezone"
            ) from exc
        return table.append_column(f"{name}_ms", ms)


def _first_unparsable(column: pa.ChunkedArray) -> int:
    """Only after a failed cast: which row it was, so the reason can name the play."""
    for row, text in enumerate(column.to_pylist()):
        try:
            timestamp_ms(pa.array([text], pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return row
    return 0


@dataclass(slots=True)
class ReadFrames:
    """A micro-batch's frames: the plays for the engine, and the refused records."""

    plays: pa.Table  # ENGINE_READS columns, every valid frame's plays in record order
    produced_ms: np.ndarray  # the Kafka timestamp of each play's frame, for freshness
    refused: list[tuple[int, str]]  # (record index, reason)


EMPTY_PLAYS = pa.schema(
    [
        ("user_id", pa.string()),
        ("operation_type", pa.string()),
        ("event_time_ms", pa.int64()),
        ("duration_ms", pa.int64()),
        ("genre", pa.string()),
    ]
)


def read_frames(
    values: Sequence[bytes | None], produced_ms: Sequence[int], reader: FrameReader | None = None
) -> ReadFrames:
    """Every frame of a batch; a refused frame costs only itself."""
    reader = reader or FrameReader()
    tables: list[pa.Table] = []
    produced: list[np.ndarray] = []
    refused: list[tuple[int, str]] = []
    for index, value in enumerate(values):
        try:
            table = reader.read(value).select(list(ENGINE_READS))
        except FrameRefused as exc:
            refused.append((index, str(exc)))
            continue
        tables.append(table)
        produced.append(np.full(table.num_rows, produced_ms[index], dtype=np.int64))
    plays = pa.concat_tables(tables) if tables else EMPTY_PLAYS.empty_table()
    times = np.concatenate(produced) if produced else np.empty(0, dtype=np.int64)
    return ReadFrames(plays, times, refused)
