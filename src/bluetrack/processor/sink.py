"""What happens to each micro-batch: the ``foreachBatch`` function of the chart query.

Per batch, in this order (the order is what makes a crash at any point safe):

1. pull the batch to the driver as Arrow (one Spark action: the Kafka read, the frames
   checked and parsed on the executors into packed plays; a refused frame comes as a
   reason, a dead letter), and unpack the plays;
2. start from the engine after batch N-1 (in memory, or ``state_{N-1}`` after a restart);
3. step the engine with every valid play, duplicates included (it deduplicates by event id);
4. publish the dead letters and the chart (keyed "chart", carrying N) and wait for delivery;
5. store the chart as the latest in MongoDB (best effort: Kafka is the source of truth);
6. write ``state_N``; only then does Spark commit batch N.

A crash before 6 makes Spark re-run batch N with the same offsets from ``state_{N-1}``: the
chart is recomputed identically and published again with the same batch id, which consumers
drop. No play is lost or counted twice.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, Message, Producer
from pymongo.errors import PyMongoError

from bluetrack.bus.dead_letter import dead_letter_for
from bluetrack.bus.kafka import publish
from bluetrack.processor.exceptions import PublishError
from bluetrack.processor.frames import ENGINE_READS, unpack
from bluetrack.processor.state_files import EngineStateFiles
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.topics import Topic

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from bluetrack.processor.engine import ChartEngine
    from bluetrack.store.charts import ChartStore

log = logging.getLogger(__name__)

CHART_KEY = "chart"
COMPONENT = "processor"
FRESHNESS_BUCKET_MS = 10
FRESHNESS_BUCKETS = 12_000  # 2 minutes of 10-ms buckets; the last one takes everything later
STORE_RETRY_S = 30.0  # after a store failure, batches skip it this long (each try costs ~2 s)


@dataclass(slots=True)
class BatchReport:
    """What one batch did; the log line, tests and the benchmark read it."""

    batch_id: int
    plays: int
    dead_letters: int
    late_dropped: int
    state_rows: int
    pull_ms: float  # Spark: Kafka read, frames parsed on the executors, rows to the driver
    engine_ms: float
    publish_ms: float
    state_ms: float
    batch_ms: float
    published_at_ms: int
    chart: ChartMessage
    # produce-to-publish delay of every play in the batch, as counts per 10-ms bucket
    freshness_histogram: np.ndarray = field(repr=False)

    @property
    def plays_per_s(self) -> float:
        return self.plays / max(self.batch_ms / 1000, 1e-9)

    def log_line(self) -> str:
        return (
            f"batch {self.batch_id}: {self.plays} input rows, {self.plays_per_s:,.0f} rows/s, "
            f"{self.batch_ms:,.0f} ms (pull {self.pull_ms:,.0f}, engine {self.engine_ms:,.0f}, "
            f"publish {self.publish_ms:,.0f}, state {self.state_ms:,.0f}), "
            f"{self.state_rows} state rows, {self.late_dropped} late, "
            f"{self.dead_letters} dead letters"
        )


@dataclass(slots=True)
class SplitBatch:
    """A pulled micro-batch: the plays for the engine, the refused records, the tick marks."""

    plays: pa.Table  # frames.ENGINE_READS: strings stay in Arrow (engine.step)
    produced_ms: np.ndarray  # Kafka timestamp of each play's frame, for freshness
    rejected: list[dict[str, Any]]


def split_batch(table: pa.Table) -> SplitBatch:
    """Separate packed plays, refused records and tick rows (which carry no record).

    Only packed rows have ``plays`` and only refused ones a ``reject_reason`` (ticks have
    neither): each is picked from its own column, so the tens of MB of packed plays are not
    copied by filtering the table first.
    """
    plays = unpack(pc.drop_null(table.column("plays")).to_pylist())
    reasons = table.column("reject_reason")
    rejected = []
    if reasons.null_count < len(reasons):
        refused = table.filter(pc.is_valid(reasons))
        rejected = refused.select(
            ["partition", "offset", "key", "value", "reject_reason"]
        ).to_pylist()
    return SplitBatch(
        plays.select(list(ENGINE_READS)),
        plays.column("produced_ms").to_numpy(zero_copy_only=False),
        rejected,
    )


def freshness_histogram(published_at_ms: int, produced_ms: np.ndarray) -> np.ndarray:
    delays = np.clip((published_at_ms - produced_ms) // FRESHNESS_BUCKET_MS, 0, None)
    buckets = np.minimum(delays, FRESHNESS_BUCKETS - 1).astype(np.int64)
    return np.bincount(buckets, minlength=FRESHNESS_BUCKETS)


class ChartPublisher:
    """Sends a batch's dead letters and chart and waits until Kafka has them all."""

    def __init__(
        self,
        producer: Producer,
        chart_topic: str = Topic.TOP_GENRES,
        source_topic: str = Topic.PLAYS_ACCEPTED,
        flush_timeout_s: float = 120.0,
    ) -> None:
        self._producer = producer
        self._chart_topic = chart_topic
        self._source_topic = source_topic
        self._flush_timeout_s = flush_timeout_s
        self._failures: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}: {err}")

    def publish(self, chart: ChartMessage, rejected: list[dict[str, Any]]) -> None:
        self._failures.clear()
        for record in rejected:
            letter = dead_letter_for(
                COMPONENT,
                self._source_topic,
                record["value"],
                ErrorCode.INVALID_MESSAGE,
                record["reject_reason"],
                partition=record["partition"],
                offset=record["offset"],
                key=record["key"],
            )
            publish(
                self._producer, Topic.DEAD_LETTER, letter, self._source_topic, self._on_delivery
            )
        publish(self._producer, self._chart_topic, chart, CHART_KEY, self._on_delivery)
        remaining = self._producer.flush(self._flush_timeout_s)
        if remaining or self._failures:
            raise PublishError(
                f"chart of batch {chart.batch_id} not delivered "
                f"({remaining} pending; {'; '.join(self._failures[:3]) or 'timeout'})"
            )


EngineFactory = Callable[[bytes | None], "ChartEngine"]


class ChartSink:
    """The ``foreachBatch`` function: one chart per micro-batch, exactly once in effect."""

    def __init__(
        self,
        new_engine: EngineFactory,
        states: EngineStateFiles,
        publisher: ChartPublisher,
        qualify_rule: str,
        store: ChartStore | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
        history: int = 1000,
    ) -> None:
        self._new_engine = new_engine
        self._states = states
        self._publisher = publisher
        self._qualify_rule = qualify_rule
        self._store = store
        self._on_batch = on_batch
        self._engine: ChartEngine | None = None
        self._engine_batch: int | None = None  # the batch the in-memory engine has seen last
        self._store_retry_at = 0.0
        self.reports: deque[BatchReport] = deque(maxlen=history)

    def _engine_after(self, batch_id: int) -> ChartEngine:
        """The engine as it was after batch ``batch_id`` (-1: a fresh one)."""
        if self._engine is not None and self._engine_batch == batch_id:
            return self._engine
        if batch_id < 0:
            return self._new_engine(None)
        log.info("loading the engine state of batch %d", batch_id)
        return self._new_engine(self._states.load(batch_id))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        try:
            self._process(batch, batch_id)
        except BaseException:
            # The in-memory engine may be half-stepped: the replay must start from the file.
            self._engine, self._engine_batch = None, None
            raise

    def _process(self, batch: DataFrame, batch_id: int) -> None:
        started = time.perf_counter()
        pulled = split_batch(batch.toArrow())
        pulled_at = time.perf_counter()

        engine = self._engine_after(batch_id - 1)
        snapshot = engine.step(pulled.plays, batch_id)
        chart = snapshot.to_message(batch_id, utc_now(), self._qualify_rule)
        stepped_at = time.perf_counter()

        self._publisher.publish(chart, pulled.rejected)
        published_at_ms = int(time.time() * 1000)
        self._store_latest(chart)
        published_at = time.perf_counter()

        self._states.save(batch_id, engine.to_bytes())
        self._engine, self._engine_batch = engine, batch_id
        finished = time.perf_counter()

        report = BatchReport(
            batch_id=batch_id,
            plays=len(pulled.plays),
            dead_letters=len(pulled.rejected),
            late_dropped=chart.late_dropped,
            state_rows=engine.state_rows(),
            pull_ms=(pulled_at - started) * 1000,
            engine_ms=(stepped_at - pulled_at) * 1000,
            publish_ms=(published_at - stepped_at) * 1000,
            state_ms=(finished - published_at) * 1000,
            batch_ms=(finished - started) * 1000,
            published_at_ms=published_at_ms,
            chart=chart,
            freshness_histogram=freshness_histogram(published_at_ms, pulled.produced_ms),
        )
        self._report(report, pulled.rejected)

    def _store_latest(self, chart: ChartMessage) -> None:
        if self._store is None or time.monotonic() < self._store_retry_at:
            return
        try:
            self._store.save_latest(chart)
        except PyMongoError as exc:  # a later batch stores a newer chart anyway
            self._store_retry_at = time.monotonic() + STORE_RETRY_S
            log.warning(
                "latest chart of batch %d not stored (retrying in %.0f s): %s",
                chart.batch_id,
                STORE_RETRY_S,
                str(exc)[:200],
            )

    def _report(self, report: BatchReport, rejected: list[dict[str, Any]]) -> None:
        log.info(report.log_line())
        if rejected:
            log.warning(
                "batch %d: %d record(s) dead-lettered, first: %s",
                report.batch_id,
                len(rejected),
                rejected[0]["reject_reason"],
            )
        self.reports.append(report)
        if self._on_batch is not None:
            self._on_batch(report)
