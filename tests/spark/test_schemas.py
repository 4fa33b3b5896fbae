"""The Spark schema and checks come from AcceptedPlay; bad records get the model's reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bluetrack.processor.job import parse_plays
from bluetrack.processor.schemas import ENGINE_READS, wire_schema
from bluetrack.protocol.plays import AcceptedPlay

pytestmark = pytest.mark.spark

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
    ({"duration_ms": 1.5}, "duration_ms: missing, null or of the wrong type"),
    ({"event_id": None}, "event_id: missing"),
    ({"user_id": "short"}, "user_id: shorter than 8"),
    ({"user_id": "has spaces!"}, "user_id: does not match"),
    ({"genre": "g" * 65}, "genre: longer than 64"),
    ({"start_time": "2026-01-01T00:00:00"}, "start_time: not an ISO-8601 timestamp"),
    ({"event_time": "2026-13-01T00:00:00Z"}, "event_time: not an ISO-8601 timestamp"),
    ({"type": "play_event"}, "type: not one of play_accepted"),
]
CODEC_CASES: list[tuple[dict[str, Any], str]] = [
    ({"version": 2}, "version: only 1 is supported"),  # codec.decode's rule, not the model's
]


def test_the_wire_schema_is_the_model() -> None:
    assert wire_schema().fieldNames() == list(AcceptedPlay.model_fields)


def _kafka_rows(spark: Any, values: list[bytes | None]) -> Any:
    rows = [(b"key", v, 0, i, datetime(2026, 1, 1, tzinfo=UTC)) for i, v in enumerate(values)]
    return spark.createDataFrame(
        rows, "key binary, value binary, partition int, offset long, timestamp timestamp"
    )


def test_each_broken_field_is_refused_with_the_models_reason(spark: Any) -> None:
    cases = CASES + CODEC_CASES
    values = [json.dumps({**GOOD, **change}).encode() for change, _ in cases]
    values += [
        json.dumps(GOOD).encode() + b" trailing junk",
        json.dumps(GOOD).replace('"', "'").encode(),  # single quotes: not JSON
    ]
    values += [json.dumps(GOOD).encode(), b"{oops", None]
    rows = parse_plays(_kafka_rows(spark, values)).collect()
    reasons = [row["reject_reason"] for row in rows]
    for (change, expected), reason in zip(cases, reasons, strict=False):
        assert reason is not None and expected in reason, (change, reason)
    for change, _ in CASES:
        with pytest.raises(ValidationError):  # pydantic agrees the record is invalid
            AcceptedPlay.model_validate({**GOOD, **change})
    trailing, single_quoted, valid, not_json, empty = rows[len(cases) :]
    assert "characters after it" in trailing["reject_reason"]
    assert "not a JSON object" in single_quoted["reject_reason"]
    assert (valid["reject_reason"], not_json["reject_reason"]) == (
        None,
        "not a JSON object of AcceptedPlay",
    )
    assert empty["reject_reason"] == "empty message"
    # The valid one reaches the engine with its timestamps in epoch ms (offsets honoured).
    play = AcceptedPlay.model_validate(GOOD)
    assert {c: valid[c] for c in ENGINE_READS} == {
        "user_id": play.user_id,
        "operation_type": play.operation_type,
        "event_time_ms": int(play.event_time.timestamp() * 1000),
        "duration_ms": play.duration_ms,
        "genre": play.genre,
    }
    assert valid["value"] is None  # the raw bytes travel only for refused records
