"""Helpers shared by the security and fault suites (not a test module).

Reading topics raw, as an outsider with no credentials but broker access would, and
recomputing charts with the reference rules over what the server accepted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from server_harness import read_topic

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.assign import assign_at_end, partitions_of
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.core.charts import ChartSnapshot, PlayRecord, ReferenceCharts
from bluetrack.core.rules import Rules
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import (
    FramePackingError,
    decode_frame,
    is_columnar,
    read_columns,
    unpack_frame,
)
from bluetrack.protocol.messages import TrackSummary
from bluetrack.protocol.plays import AcceptedPlay, ClientOperation, PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.stack import processes

PASSWORD = "correct horse battery"


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def play_pair(
    client: BlueTrackClient, session: Session, track: TrackSummary, genre: str
) -> list[PlayEvent]:
    """A 40-second play, start and end, sent now (it qualifies under the 30-second rule)."""
    began = utc_now() - timedelta(seconds=40)
    steps: tuple[tuple[ClientOperation, datetime], ...] = (("start", began), ("end", utc_now()))
    return [
        client.play(session, op, track, genre=genre, start_time=began, event_time=at)
        for op, at in steps
    ]


def wait_until(find: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.5) -> Any:
    """Poll ``find`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = find()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(every_s)


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record with where it was."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def records(settings: Settings, topic: str) -> list[Record]:
    """Every record of ``topic``; accepted frames opened, as any reader can open them."""
    return [
        Record(topic, m.partition() or 0, m.offset() or 0, m.key(), readable(topic, m.value()))
        for m in read_topic(settings, topic)
    ]


def readable(topic: str, value: bytes | None) -> bytes | None:
    """A packed or columnar frame is compressed, not secret: a reader sees what it says, here
    as JSON lines."""
    if topic != Topic.PLAYS_ACCEPTED or value is None:
        return value
    try:
        if is_columnar(value):
            rows = read_columns(value).to_pylist()
            return b"\n".join(json.dumps(row, separators=(",", ":")).encode() for row in rows)
        return unpack_frame(value)
    except FramePackingError:
        return value  # a hostile writer's junk, as it is


def dead_letters(settings: Settings) -> list[DeadLetter]:
    return [
        codec.decode(r.value, DeadLetter, max_bytes=codec.MAX_REPLY_BYTES)
        for r in records(settings, Topic.DEAD_LETTER)
    ]


@dataclass(frozen=True, slots=True)
class Accepted:
    partition: int
    offset: int
    play: AcceptedPlay


def accepted_plays(settings: Settings) -> list[Accepted]:
    """Every play in a valid frame on songs_tracker_accepted (fuzzed frames skipped)."""
    found: list[Accepted] = []
    for record in records(settings, Topic.PLAYS_ACCEPTED):
        try:
            plays = decode_frame(record.value)
        except DecodeError:
            continue  # a hostile writer's junk: the processor dead-letters it
        found.extend(Accepted(record.partition, record.offset, play) for play in plays)
    return found


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": unique("ends")})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]
            for p in partitions_of(consumer, topic, 10)
        }
    finally:
        consumer.close()


def chart_of(plays: Iterable[PlayRecord], rules: Rules) -> ChartSnapshot:
    """The reference chart over ``plays`` as one batch."""
    return ReferenceCharts(rules).step(list(plays), 0)


# --- comparing a real processor's charts with the reference --------------------------------
def batch_end_offsets(checkpoint: Path, batch_id: int) -> dict[int, int]:
    """The Kafka end offsets of a batch, from Spark's offset log (``offsets/<batch id>``)."""
    lines = (checkpoint / "spark" / "offsets" / str(batch_id)).read_text().splitlines()
    for line in lines[2:]:
        try:
            source = json.loads(line)
        except ValueError:
            continue
        if isinstance(source, dict) and Topic.PLAYS_ACCEPTED in source:
            return {int(p): int(o) for p, o in source[Topic.PLAYS_ACCEPTED].items()}
    raise AssertionError(f"no {Topic.PLAYS_ACCEPTED} offsets in batch {batch_id}: {lines}")


def reference_charts(
    plays: Sequence[Accepted],
    ends_of: dict[int, dict[int, int]],
    batch_ids: Sequence[int],
    rules: Rules,
) -> dict[int, ChartMessage]:
    """What the rules say each batch's chart is, over the processor's own batches.

    ``ends_of`` maps a batch id to the Kafka end offsets Spark planned it with (read while
    the batch ran: Spark deletes old offset files, see ``ChartCollector``).
    """
    reference = ReferenceCharts(rules)
    expected: dict[int, ChartMessage] = {}
    done: dict[int, int] = {}
    for batch_id in batch_ids:
        ends = ends_of[batch_id]
        batch = [
            PlayRecord.from_accepted(a.play)
            for a in plays
            if done.get(a.partition, 0) <= a.offset < ends.get(a.partition, 0)
        ]
        snapshot = reference.step(batch, batch_id)
        expected[batch_id] = snapshot.to_message(batch_id, utc_now(), rules.qualify_rule)
        done = ends
    return expected


def comparable(chart: ChartMessage) -> dict[str, Any]:
    """A chart without the fields that say when it was computed."""
    fields = chart.model_dump(mode="json", exclude={"computed_at"})
    if chart.watermark is None:
        fields.pop("chart_time")
    return fields


# --- a processor child process and the charts it publishes ------------------------------
class ChartCollector:
    """Every chart published on top_genres from now on, by batch id (repeats dropped).

    With ``checkpoint``, also each batch's planned end offsets, read when its chart arrives:
    Spark keeps only the last ``spark.sql.streaming.minBatchesToRetain`` offset files, so a
    long run cannot read the early ones at the end.
    """

    def __init__(self, settings: Settings, checkpoint: Path | None = None) -> None:
        self.charts: dict[int, ChartMessage] = {}
        self.ends: dict[int, dict[int, int]] = {}
        self._checkpoint = checkpoint
        self._stop = threading.Event()
        self._consumer = Consumer({**settings.kafka_client_config(), "group.id": unique("c")})
        assign_at_end(self._consumer, [Topic.TOP_GENRES], 30)
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                chart = codec.decode(msg.value(), ChartMessage, max_bytes=codec.MAX_REPLY_BYTES)
                if chart.batch_id not in self.charts and self._checkpoint is not None:
                    self.ends[chart.batch_id] = batch_end_offsets(self._checkpoint, chart.batch_id)
                self.charts.setdefault(chart.batch_id, chart)
        self._consumer.close()

    def caught_up(self, ends: dict[int, int]) -> bool:
        """A batch read up to ``ends`` (every partition)."""
        return any(
            all(got.get(p, 0) >= o for p, o in ends.items()) for got in list(self.ends.values())
        )

    def latest(self) -> ChartMessage | None:
        return self.charts[max(self.charts)] if self.charts else None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class RunningProcessor:
    settings: Settings  # home, checkpoint and store of this processor
    charts: ChartCollector

    @property
    def checkpoint(self) -> Path:
        return self.settings.processor_checkpoint_dir

    def alive(self) -> bool:
        return processes.running_pid(self.settings.home, "processor") is not None

    def chart_after(self, batch_id: int, timeout_s: float = 120.0) -> ChartMessage:
        """The first chart of a batch after ``batch_id`` (the processor kept going)."""
        chart: ChartMessage = wait_until(
            lambda: next((c for b, c in sorted(self.charts.charts.items()) if b > batch_id), None),
            timeout_s,
            f"a chart after batch {batch_id}",
        )
        return chart
