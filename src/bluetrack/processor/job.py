"""The chart query: Kafka -> native parse and validation -> ``foreachBatch`` into the engine.

Everything up to the sink is native Spark (from_json, the derived checks, projection); the
only Python is the driver-side sink, which gets each micro-batch as one Arrow table and steps
the vectorised engine once. See docs/processor.md for the design and its limits.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

from bluetrack.config import Settings
from bluetrack.processor.schemas import (
    engine_projection,
    flatten,
    rejection_reason,
    wire_schema,
)
from bluetrack.protocol.topics import Topic

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from bluetrack.processor.sink import ChartSink

log = logging.getLogger(__name__)

QUERY_NAME = "bluetrack_charts"


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


def kafka_source_options(settings: Settings) -> dict[str, str]:
    """The Kafka source's options; security settings mapped to the Java client's names."""
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "kafka.security.protocol": settings.kafka_security_protocol,
        "subscribe": str(Topic.PLAYS_ACCEPTED),
        # Only consulted when the checkpoint is new; afterwards the checkpoint's offsets rule.
        "startingOffsets": "earliest",
        # Records removed by retention before we read them must not stop the charts.
        "failOnDataLoss": "false",
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
    """Kafka records -> engine columns, plus why a record was refused (null when valid).

    Parsed and converted once into plain columns first: written as one projection, the
    dozens of field checks would each re-run ``from_json``. The raw value is kept only for
    refused records, so valid ones cost no transfer.
    """
    parsed = F.from_json(F.col("value").cast("string"), wire_schema())
    fields = records.select(
        parsed.alias("play"), "value", "key", "partition", "offset", "timestamp"
    ).select(*flatten(F.col("play")), "value", "key", "partition", "offset", "timestamp")
    checked = fields.select("*", rejection_reason(F.col("value")).alias("reject_reason"))
    refused = F.col("reject_reason").isNotNull()
    return checked.select(
        *engine_projection(),
        F.unix_millis(F.col("timestamp")).alias("produced_ms"),
        F.col("reject_reason"),
        F.when(refused, F.col("value")).alias("value"),
        F.when(refused, F.col("key")).alias("key"),
        F.col("partition"),
        F.col("offset"),
        F.lit(False).alias("is_tick"),
    )


def ticks(spark: SparkSession) -> DataFrame:
    """One row per micro-batch, so a batch (and a chart) happens every trigger.

    Spark skips a trigger whose sources have no new data; the ``rate-micro-batch`` source
    always has one new row, and its offsets are checkpointed like Kafka's, so replays see
    the same ticks.
    """
    tick_source = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 1).load()
    return tick_source.select(F.lit(True).alias("is_tick"))


def chart_input(spark: SparkSession, settings: Settings, *, with_ticks: bool = True) -> DataFrame:
    plays = parse_plays(read_accepted_plays(spark, settings))
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
