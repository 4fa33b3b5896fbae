"""Deterministic logs of accepted plays for the processor tests, cut into segments.

Listeners start, pause, resume, stop and switch tracks, run tracks to their end and log
out; arrival is jittered within the watermark, some events are sent twice (in the same
segment or the next) and, optionally, a few arrive long after the watermark passed them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bluetrack.config import Settings
from bluetrack.core.charts import PlayRecord, ReferenceCharts
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.frames import COLUMNS, columnar_frame, frame_lines, frames_of, pack_frame
from bluetrack.protocol.plays import AcceptedPlay

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEGMENT_S = 60
GENRES = ("blues", "folk", "jazz", "metal", "pop", "rock")
DURATIONS_MS = (20_000, 45_000, 90_000, 185_000)
QUERY_TIMEOUT_S = 120
OPERATIONS = ("start", "start", "start", "pause", "resume", "stop", "end", "logout")


@dataclass(frozen=True, slots=True)
class LogShape:
    users: int = 30
    segments: int = 6
    events_per_user: int = 3  # per segment
    duplicate_rate: float = 0.08
    late_per_segment: int = 0  # events far behind the watermark
    jitter_s: int = 8  # arrival out of order, within the 30-s watermark


def _play(
    rng: random.Random, serial: int, user: str, op: str, at: datetime, track: int
) -> AcceptedPlay:
    logout = op == "logout"
    return AcceptedPlay(
        event_id=f"event-{serial:08d}",
        user_id=user,
        track_id="" if logout else f"track-{track:03d}",
        operation_type=op,  # type: ignore[arg-type]
        start_time=at - timedelta(milliseconds=rng.randrange(0, 5000)),
        event_time=at,
        duration_ms=DURATIONS_MS[track % len(DURATIONS_MS)],
        genre="" if logout else GENRES[track % len(GENRES)],
        accepted_at=at + timedelta(milliseconds=50),
    )


def play_log(shape: LogShape = LogShape(), seed: int = 7) -> list[list[AcceptedPlay]]:
    """``shape.segments`` lists of plays in arrival order, one per micro-batch."""
    rng = random.Random(seed)
    users = [f"listener-{i:04d}" for i in range(shape.users)]
    serial = 0
    segments: list[list[AcceptedPlay]] = []
    carried_duplicates: list[AcceptedPlay] = []
    for index in range(shape.segments):
        begin = T0 + timedelta(seconds=index * SEGMENT_S)
        segment: list[AcceptedPlay] = list(carried_duplicates)
        for user in users:
            for _ in range(shape.events_per_user):
                serial += 1
                at = begin + timedelta(milliseconds=rng.randrange(SEGMENT_S * 1000))
                op = rng.choice(OPERATIONS)
                segment.append(_play(rng, serial, user, op, at, rng.randrange(24)))
        for _ in range(shape.late_per_segment if index >= 2 else 0):
            serial += 1
            at = begin - timedelta(seconds=SEGMENT_S + rng.randrange(30))
            segment.append(_play(rng, serial, rng.choice(users), "start", at, rng.randrange(24)))
        # Arrival order: roughly event time, jittered within the watermark.
        jitter_ms = shape.jitter_s * 1000
        segment.sort(key=lambda p: p.event_time + timedelta(milliseconds=rng.randrange(jitter_ms)))
        copies = [p for p in segment if rng.random() < shape.duplicate_rate]
        same_batch, next_batch = copies[::2], copies[1::2]
        segment.extend(same_batch)
        carried_duplicates = next_batch
        segments.append(segment)
    return segments


def records(plays: list[AcceptedPlay]) -> list[PlayRecord]:
    return [PlayRecord.from_accepted(p) for p in plays]


def comparable(chart: ChartMessage) -> dict[str, Any]:
    """A chart without the wall-clock instant it was computed at and its batch id."""
    return chart.model_dump(mode="json", exclude={"computed_at", "batch_id"})


class ChartHarness:
    """Feeds the same segments to the Spark job and to ``ReferenceCharts``."""

    def __init__(self, spark: Any, settings: Settings, producer: Any) -> None:
        from bluetrack.processor.job import rules_of

        self.spark = spark
        self.settings = settings
        self.producer = producer
        self.reference = ReferenceCharts(rules_of(settings))
        self.expected: list[ChartMessage] = []
        self.frames = 0

    def produce(self, plays: list[AcceptedPlay], extra: Sequence[bytes] = ()) -> None:
        topic = self.settings.processor_input_topic
        # Frames of many plays (protocol/frames.py) in turn in each form a producer may send:
        # columnar (the server's), packed JSON lines, plain JSON lines.
        for frame in frames_of(codec.encode(play) for play in plays):
            self.frames += 1
            self.producer.produce(topic, key=b"frame", value=_form(frame, self.frames % 3))
        for raw in extra:
            self.producer.produce(topic, key=b"bad", value=raw)
        assert self.producer.flush(30) == 0

    def expect(self, plays: list[AcceptedPlay]) -> ChartMessage:
        batch_id = len(self.expected)
        snapshot = self.reference.step(records(plays), batch_id)
        chart = snapshot.to_message(batch_id, plays[0].accepted_at, self.settings.qualify_rule)
        self.expected.append(chart)
        return chart

    def run_once(self, sink: Any, *, with_ticks: bool = True) -> None:
        """Process everything in the input topic now, as one micro-batch, then stop."""
        from bluetrack.processor.job import start_chart_query

        query = start_chart_query(
            self.spark, self.settings, sink, available_now=True, with_ticks=with_ticks
        )
        finished = query.awaitTermination(QUERY_TIMEOUT_S)
        if query.exception() is not None:
            raise query.exception()  # type: ignore[misc]
        assert finished, "the availableNow query did not finish"

    def feed(self, sink: Any, plays: list[AcceptedPlay], extra: Sequence[bytes] = ()) -> None:
        self.produce(plays, extra)
        self.expect(plays)
        self.run_once(sink)


def _form(frame: bytes, form: int) -> bytes:
    if form == 1:
        rows = [json.loads(line) for line in frame_lines(frame)]
        return columnar_frame({name: [row[name] for row in rows] for name, _ in COLUMNS})
    return pack_frame(frame) if form == 2 else frame
