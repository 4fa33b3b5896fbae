"""Spark schemas and validation derived from the protocol models, never copied by hand.

``wire_schema(AcceptedPlay)`` is what ``from_json`` parses with; ``field_checks`` turns the
model's own constraints (required fields, ``Literal`` choices, lengths, patterns, bounds,
timezone-aware timestamps) into native Spark predicates, so a record pydantic would refuse
is dead-lettered without a Python UDF. Adding a field to ``AcceptedPlay`` updates both.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DataType, LongType, StringType, StructField, StructType

from bluetrack.processor.exceptions import SchemaDerivationError
from bluetrack.protocol.codec import MAX_REQUEST_BYTES
from bluetrack.protocol.envelope import SCHEMA_VERSION
from bluetrack.protocol.plays import AcceptedPlay

# The columns of the engine's batch contract (processor.engine.BATCH_DTYPES) that
# ChartEngine.step reads: copies of an event are one (user, time, operation) tie to it, so it
# needs no event id. Only these cross to the driver, timestamps as int64 epoch ms.
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


def spark_type(annotation: Any) -> DataType:
    """The Spark type a JSON value of this Python annotation is parsed as."""
    annotation = _unwrap_optional(annotation)
    if get_origin(annotation) is Literal:
        kinds = {type(v) for v in get_args(annotation)}
        if kinds == {str}:
            return StringType()
        raise SchemaDerivationError(f"only string literals are supported, not {annotation}")
    if annotation is bool:
        return BooleanType()
    if annotation is int:
        return LongType()
    if annotation in (str, datetime):  # datetimes are checked and converted natively later
        return StringType()
    raise SchemaDerivationError(f"no Spark type for {annotation!r}")


def wire_schema(model: type[BaseModel] = AcceptedPlay) -> StructType:
    return StructType(
        [
            StructField(name, spark_type(f.annotation), True)
            for name, f in model.model_fields.items()
        ]
    )


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """One constraint: ``bad(column)`` is true for a value the model refuses."""

    field: str
    reason: str
    bad: Callable[[Column], Column]


def _is_datetime(info: FieldInfo) -> bool:
    return _unwrap_optional(info.annotation) is datetime


def _presence_check(name: str, info: FieldInfo) -> FieldCheck | None:
    if info.is_required():
        return FieldCheck(name, f"{name}: missing, null or of the wrong type", Column.isNull)
    return None


def _literal_check(name: str, info: FieldInfo) -> FieldCheck | None:
    annotation = _unwrap_optional(info.annotation)
    if get_origin(annotation) is not Literal:
        return None
    choices = list(get_args(annotation))
    return FieldCheck(
        name,
        f"{name}: not one of {', '.join(map(str, choices))}",
        lambda c: c.isNotNull() & ~c.isin(choices),
    )


def _metadata_check(name: str, constraint: Any) -> FieldCheck | None:
    """A check for one annotated-types / pydantic constraint, or None if it is not one."""
    if isinstance(constraint, annotated_types.MinLen):
        shortest = constraint.min_length
        return FieldCheck(
            name, f"{name}: shorter than {shortest}", lambda c: F.length(c) < shortest
        )
    if isinstance(constraint, annotated_types.MaxLen):
        longest = constraint.max_length
        return FieldCheck(name, f"{name}: longer than {longest}", lambda c: F.length(c) > longest)
    if isinstance(constraint, annotated_types.Ge):
        low = constraint.ge
        return FieldCheck(name, f"{name}: less than {low}", lambda c: c < F.lit(low))
    if isinstance(constraint, annotated_types.Le):
        high = constraint.le
        return FieldCheck(name, f"{name}: greater than {high}", lambda c: c > F.lit(high))
    pattern = getattr(constraint, "pattern", None)
    if isinstance(pattern, str):
        return FieldCheck(name, f"{name}: does not match {pattern}", lambda c: ~c.rlike(pattern))
    return None


def ms_column(name: str) -> str:
    """The epoch-millisecond column a timestamp field is converted into."""
    return f"{name}_ms"


def _has_zone(text: Column) -> Column:
    """Ends in Z or a +hh:mm / +hhmm offset, with a time part: cheaper than a regex."""
    offset_sign = F.substring(text, -6, 1).isin("+", "-") | F.substring(text, -5, 1).isin("+", "-")
    return F.substring(text, 11, 1).isin("T", " ") & (text.endswith("Z") | offset_sign)


def _timestamp_checks(name: str) -> list[FieldCheck]:
    converted = F.col(ms_column(name))
    return [
        FieldCheck(
            name,
            f"{name}: not an ISO-8601 timestamp with a timezone",
            lambda c: c.isNotNull() & (~_has_zone(c) | converted.isNull()),
        )
    ]


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
        if _is_datetime(info):
            values.extend(_timestamp_checks(name))
    return presence + values


def _envelope_checks(model: type[BaseModel]) -> list[FieldCheck]:
    """The codec's rules on top of the model's: the type must be named, the version known."""
    expected_type = model.model_fields["type"].default
    return [
        FieldCheck("type", f"type: must be {expected_type!r}", lambda c: c.isNull()),
        FieldCheck(
            "version",
            f"version: only {SCHEMA_VERSION} is supported",
            lambda c: c.isNotNull() & (c != F.lit(SCHEMA_VERSION)),
        ),
    ]


# Spark's JSON reader is lenient by default; the protocol's (Python's json) is not.
STRICT_JSON_OPTIONS = {"allowSingleQuotes": "false", "allowNonNumericNumbers": "false"}


def rejection_reason(value: Column, model: type[BaseModel] = AcceptedPlay) -> Column:
    """Null for a valid record, else the first rule it breaks (a native expression).

    Evaluated over the ``flatten``-ed fields; ``value`` is the raw Kafka value (binary).
    """
    nothing_parsed = ~F.greatest(*(F.col(name).isNotNull() for name in model.model_fields))
    reasons = [
        F.when(value.isNull(), F.lit("empty message")),
        F.when(
            F.octet_length(value) > MAX_REQUEST_BYTES,
            F.lit(f"message exceeds the {MAX_REQUEST_BYTES}-byte limit"),
        ),
        F.when(nothing_parsed, F.lit(f"not a JSON object of {model.__name__}")),
        # from_json stops after the first object; json.loads refuses anything after it.
        F.when(
            ~F.rtrim(value.cast("string")).endswith("}"),
            F.lit(f"not a JSON object of {model.__name__} (characters after it)"),
        ),
    ]
    for check in _envelope_checks(model) + field_checks(model):
        reasons.append(F.when(check.bad(F.col(check.field)), F.lit(check.reason)))
    return F.coalesce(*reasons)


def flatten(play: Column, model: type[BaseModel] = AcceptedPlay) -> list[Column]:
    """Every field of the parsed struct as a column; timestamps also as epoch ms (once)."""
    columns = []
    for name, info in model.model_fields.items():
        columns.append(play[name].alias(name))
        if _is_datetime(info):
            columns.append(F.unix_millis(F.try_to_timestamp(play[name])).alias(ms_column(name)))
    return columns


def engine_projection(columns: tuple[str, ...] = ENGINE_READS) -> list[Column]:
    """Engine columns out of a flattened (and validated) AcceptedPlay."""
    renamed = {"start_time_ms": ms_column("start_time"), "event_time_ms": ms_column("event_time")}
    return [F.col(renamed.get(name, name)).alias(name) for name in columns]
