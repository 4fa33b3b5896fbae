"""The chart query: Kafka frames -> vectorised parse and checks -> ``foreachBatch`` engine.

Spark reads the frames (each many plays) and checkpoints their offsets; ``mapInArrow`` on
the executors checks and parses each batch of frames with Arrow into compact engine rows and
refusals; the driver-side sink gets each micro-batch as one Arrow table and steps the
vectorised engine once. See docs/processor.md for the design and its limits.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from bluetrack.bus.kafka import make_producer
from bluetrack.config import Settings
from bluetrack.core.rules import Rules
from bluetrack.processor.engine import ChartEngine
from bluetrack.processor.frames import EXECUTOR_OUTPUT_DDL, read_record_batches
from bluetrack.processor.sink import BatchReport, ChartPublisher, ChartSink
from bluetrack.processor.spark_session import build_spark_session
from bluetrack.processor.state_files import EngineStateFiles
from bluetrack.protocol.topics import Topic
from bluetrack.store.charts import ChartStore
from bluetrack.store.database import open_database

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = logging.getLogger(__name__)

QUERY_NAME = "bluetrack_charts"
HEALTHY_RUN_S = 300.0  # a query that ran this long before failing starts the backoff over


@dataclass(frozen=True, slots=True)
class CheckpointLayout:
    """Spark's checkpoint and the engine's states live side by side and go together."""

    root: Path

    @property
    def spark(self) -> str:
        return str(self.root / "spark")

    @property
    def engine(self) -> Path:
        return self.root / "engine"


def input_topic(settings: Settings) -> str:
    return settings.processor_input_topic or str(Topic.PLAYS_ACCEPTED)


def chart_topic(settings: Settings) -> str:
    return settings.processor_chart_topic or str(Topic.TOP_GENRES)


def kafka_source_options(settings: Settings) -> dict[str, str]:
    """The Kafka source's options; security settings mapped to the Java client's names."""
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "kafka.security.protocol": settings.kafka_security_protocol,
        "subscribe": input_topic(settings),
        # Only consulted when the checkpoint is new; afterwards the checkpoint's offsets rule.
        "startingOffsets": "earliest",
        # Records removed by retention before we read them must not stop the charts.
        "failOnDataLoss": "false",
        # A 5-s batch at 100k plays/s is ~40 MB of columnar frames (150 MB as JSON): the
        # Java consumer's 1 MB per partition per fetch would make that ~40 round trips a task.
        "kafka.max.partition.fetch.bytes": str(16 * 1024 * 1024),
        "kafka.fetch.max.bytes": str(64 * 1024 * 1024),
    }
    if settings.kafka_sasl_mechanism:
        options["kafka.sasl.mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username and settings.kafka_sasl_password:
        module = (
            "org.apache.kafka.common.security.plain.PlainLoginModule"
            if settings.kafka_sasl_mechanism == "PLAIN"
            else "org.apache.kafka.common.security.scram.ScramLoginModule"
        )
        password = settings.kafka_sasl_password.get_secret_value()
        options["kafka.sasl.jaas.config"] = (
            f'{module} required username="{settings.kafka_sasl_username}" password="{password}";'
        )
    if settings.kafka_ssl_ca_location:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = settings.kafka_ssl_ca_location
    if settings.processor_max_offsets_per_trigger:
        options["maxOffsetsPerTrigger"] = str(settings.processor_max_offsets_per_trigger)
    return options


def read_accepted_plays(spark: SparkSession, settings: Settings) -> DataFrame:
    log.warning(
        "failOnDataLoss is off: plays deleted by retention before they were read are skipped "
        "(Spark logs a warning naming the offsets) rather than stopping the charts"
    )
    reader = spark.readStream.format("kafka")
    for key, value in kafka_source_options(settings).items():
        reader = reader.option(key, value)
    return reader.load()


def parse_plays(records: DataFrame) -> DataFrame:
    """Kafka records -> one row per valid play (engine columns) or per refused record.

    Each record is a frame of many plays (protocol/frames.py). The executors' Python workers
    check and parse them, vectorised, with Arrow (``processor/frames.py``), so the parse
    scales with executors and only compact engine rows travel to the driver; Spark's own
    per-record JSON parse was most of the processor's cost when each play was a record.
    """
    return records.select(
        F.col("value"),
        F.col("key"),
        F.col("partition"),
        F.col("offset"),
        F.unix_millis(F.col("timestamp")).alias("produced_ms"),
    ).mapInArrow(read_record_batches, EXECUTOR_OUTPUT_DDL)


def ticks(spark: SparkSession) -> DataFrame:
    """One row per micro-batch, so a batch (and a chart) happens every trigger.

    Spark skips a trigger whose sources have no new data; the ``rate-micro-batch`` source
    always has one new row, and its offsets are checkpointed like Kafka's, so replays see
    the same ticks.
    """
    tick_source = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 1).load()
    return tick_source.select(F.lit(True).alias("is_tick"))


def chart_input(spark: SparkSession, settings: Settings, *, with_ticks: bool = True) -> DataFrame:
    plays = parse_plays(read_accepted_plays(spark, settings)).withColumn("is_tick", F.lit(False))
    if not with_ticks:
        return plays
    return plays.unionByName(ticks(spark), allowMissingColumns=True)


def start_chart_query(
    spark: SparkSession,
    settings: Settings,
    sink: ChartSink,
    *,
    available_now: bool = False,
    with_ticks: bool = True,
) -> StreamingQuery:
    """Start the query; ``available_now`` processes what is in Kafka as one batch and stops."""
    layout = CheckpointLayout(settings.processor_checkpoint_dir)
    writer = (
        chart_input(spark, settings, with_ticks=with_ticks)
        .writeStream.queryName(QUERY_NAME)
        .option("checkpointLocation", layout.spark)
        .foreachBatch(sink)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{int(settings.trigger_s * 1000)} milliseconds")
    return writer.start()


class StopFlag:
    """Set by SIGTERM/SIGINT; the supervisor polls it between waits on the query."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self, *_: Any) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.set)
        signal.signal(signal.SIGINT, self.set)


def rules_of(settings: Settings) -> Rules:
    return Rules(
        window_s=settings.window_s,
        watermark_s=settings.watermark_s,
        qualify_rule=settings.qualify_rule,
    )


def engine_factory(rules: Rules) -> Callable[[bytes | None], ChartEngine]:
    def new_engine(state: bytes | None) -> ChartEngine:
        return ChartEngine(rules) if state is None else ChartEngine.from_bytes(state, rules)

    return new_engine


@contextmanager
def chart_sink(
    settings: Settings,
    *,
    store_charts: bool = True,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> Iterator[ChartSink]:
    """The sink with its producer and store, closed when the block ends."""
    layout = CheckpointLayout(settings.processor_checkpoint_dir)
    producer = make_producer(settings, **{"message.timeout.ms": 120_000})
    # A store outage must cost a batch seconds, not minutes: the chart is on Kafka anyway.
    store_settings = settings.model_copy(
        update={"mongodb_timeout_s": 2.0, "mongodb_operation_timeout_s": 10.0}
    )
    db = open_database(store_settings, ping=False) if store_charts else None
    try:
        yield ChartSink(
            engine_factory(rules_of(settings)),
            EngineStateFiles(layout.engine, keep=settings.processor_state_keep),
            ChartPublisher(producer, chart_topic(settings), input_topic(settings)),
            settings.qualify_rule,
            store=None if db is None else ChartStore(db),
            on_batch=on_batch,
        )
    finally:
        producer.flush(10)
        producer.close()
        if db is not None:
            db.client.close()


def wait_for(query: StreamingQuery, stop: StopFlag) -> Exception | None:
    """Block until ``stop`` is set (None) or the query fails (its exception)."""
    while not stop.is_set():
        try:
            if query.awaitTermination(1):
                return None if stop.is_set() else RuntimeError("the query stopped by itself")
        except Exception as exc:  # StreamingQueryException: the failed batch is replayed
            return exc
    query.stop()
    return None


def run_processor(
    settings: Settings,
    stop: StopFlag | None = None,
    *,
    on_batch: Callable[[BatchReport], None] | None = None,
    max_backoff_s: float = 60.0,
) -> None:
    """Run the chart query until ``stop``; a failed query restarts from its checkpoint.

    Restarting is always safe: Spark re-runs the uncommitted batch from the checkpointed
    offsets and the sink from the matching engine state. A broker outage, a store outage or
    a bug in one batch therefore costs time, never plays.
    """
    stop = stop or StopFlag()
    spark = build_spark_session(settings)
    failures = 0
    with chart_sink(settings, on_batch=on_batch) as sink:
        while not stop.is_set():
            started = time.monotonic()
            query = start_chart_query(spark, settings, sink)
            log.info(
                "chart query started: trigger %.1f s, checkpoint %s",
                settings.trigger_s,
                settings.processor_checkpoint_dir,
            )
            failure = wait_for(query, stop)
            if failure is None:
                break
            failures = 1 if time.monotonic() - started > HEALTHY_RUN_S else failures + 1
            backoff = min(max_backoff_s, 2.0 ** min(failures, 6))
            log.error("chart query failed (%s); restarting in %.0f s", failure, backoff)
            stop.wait(backoff)
    log.info("chart query stopped")
