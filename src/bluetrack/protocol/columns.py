"""Protocol models as Arrow columns: a schema and the model's rules, derived from the model.

Used wherever many messages of one model are read at once: the stream processor's frames
of accepted plays, the server's batches of play events. A document of JSON lines is parsed
with one call of Arrow's JSON reader against a schema derived from the model, then every
constraint of the model (required fields, ``Literal`` choices, lengths, patterns, bounds,
timezone-aware timestamps) and the codec's envelope rules are checked as column operations.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterator
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

from bluetrack.errors import BlueTrackError
from bluetrack.protocol.envelope import SCHEMA_VERSION
from bluetrack.protocol.plays import AcceptedPlay


class SchemaDerivationError(BlueTrackError):
    """A protocol field has a type the Arrow schema derivation does not know."""


class FrameRefused(ValueError):
    """A frame that is not wholly valid; the message is the reason dead-lettered with it."""


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


@functools.cache  # derived once per model, not per batch
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


@functools.cache  # derived once per model, not per batch
def _all_checks(model: type[BaseModel]) -> tuple[FieldCheck, ...]:
    return (*_envelope_checks(model), *field_checks(model))


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


@dataclass(frozen=True, slots=True)
class ModelColumns:
    """Parses JSON lines of ``model`` into columns and checks them against its rules."""

    model: type[BaseModel] = AcceptedPlay

    def parse(self, value: bytes, *, threads: bool = False) -> pa.Table:
        try:
            return pj.read_json(
                pa.BufferReader(value),
                read_options=pj.ReadOptions(
                    use_threads=threads, block_size=max(len(value) + 1, 1 << 20)
                ),
                parse_options=pj.ParseOptions(
                    explicit_schema=wire_schema(self.model), unexpected_field_behavior="error"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise FrameRefused(f"not JSON lines of {self.model.__name__}: {exc}") from exc

    def broken_rules(self, table: pa.Table) -> Iterator[tuple[np.ndarray, str]]:
        """(rows that break it, reason) for each rule some row breaks, in rule order."""
        for check in _all_checks(self.model):
            bad = pc.fill_null(check.bad(table.column(check.field)), False)
            if pc.any(bad).as_py():
                yield np.flatnonzero(bad.to_numpy(zero_copy_only=False)), check.reason
        for name in self._timestamps():
            unparsable = _unparsable_rows(table.column(name))
            if len(unparsable):
                yield unparsable, f"{name}: not an ISO-8601 timestamp with a timezone"

    def first_broken_rule(self, table: pa.Table) -> tuple[int, str] | None:
        for rows, reason in self.broken_rules(table):
            return int(rows[0]), reason
        return None

    def with_ms(self, table: pa.Table) -> pa.Table:
        """Every timestamp also as int64 epoch ms (``<name>_ms``); the text is valid by now."""
        for name in self._timestamps():
            table = table.append_column(f"{name}_ms", timestamp_ms(table.column(name)))
        return table

    def _timestamps(self) -> list[str]:
        return [n for n, info in self.model.model_fields.items() if _is_datetime(info)]


def _unparsable_rows(column: pa.ChunkedArray) -> np.ndarray:
    """Rows whose text is not a zoned timestamp: one cast in the common all-valid case."""
    try:
        timestamp_ms(column)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    else:
        return np.empty(0, dtype=np.int64)
    bad = []
    for row, text in enumerate(column.to_pylist()):
        try:
            timestamp_ms(pa.array([text], pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad.append(row)
    return np.array(bad, dtype=np.int64)


def distinct(column: pa.ChunkedArray) -> tuple[list[Any], np.ndarray]:
    """(the column's distinct values, each row's position among them)."""
    if column.null_count:
        raise ValueError(f"a null {column.type} value in the batch")
    chunks = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    encoded = pc.dictionary_encode(chunks)
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)


def python_values(table: pa.Table, name: str) -> list[Any]:
    """A column as Python values (through numpy: ~10x faster than ``to_pylist`` for
    strings, no Arrow scalars made)."""
    return table.column(name).to_numpy(zero_copy_only=False).tolist()  # type: ignore[no-any-return]
