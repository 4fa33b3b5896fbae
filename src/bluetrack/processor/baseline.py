"""The seed-style design, kept only as the benchmark's baseline: do not run it in production.

Kafka -> one row per play (frames split into lines) -> from_json ->
``groupBy(user_id).applyInPandasWithState``: one Python call per
user per batch, looping over that user's events row by row to track the current play, with
Spark's state store holding each user's play. Its output (each touched user's genre now
and plays that crossed 30 s) is summed in ``foreachBatch``. This is the natural first design
and what bench/bench_processor.py compares the native + vectorised-engine design against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd

from bluetrack.config import Settings
from bluetrack.processor.job import kafka_source_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

QUALIFY_MS = 30_000
OUTPUT_SCHEMA = "user_id string, genre_now string, qualified_genre string"
STATE_SCHEMA = "genre string, playing_since long, listened long, duration long"
LINE_SCHEMA = (
    "user_id string, operation_type string, event_time string, duration_ms long, genre string"
)


def _plays(records: DataFrame) -> DataFrame:
    """The seed's parse, one JSON object per row: frames split into lines, then from_json."""
    from pyspark.sql import functions as F

    lines = records.select(F.explode(F.split(F.col("value").cast("string"), "\n")).alias("line"))
    play = F.from_json(F.col("line"), LINE_SCHEMA)
    return lines.select(
        play.user_id.alias("user_id"),
        play.operation_type.alias("operation_type"),
        F.unix_millis(F.to_timestamp(play.event_time)).alias("event_time_ms"),
        play.duration_ms.alias("duration_ms"),
        play.genre.alias("genre"),
    ).where("user_id IS NOT NULL AND event_time_ms IS NOT NULL")


def _follow_user(
    key: tuple[str], batches: Iterator[pd.DataFrame], state: Any
) -> Iterator[pd.DataFrame]:
    """One user's events in event time, row by row, as a per-user stateful function does."""
    genre, since, listened, duration = state.get if state.exists else (None, None, 0, 0)
    qualified: list[str | None] = []
    events = pd.concat(list(batches)).sort_values("event_time_ms")
    for row in events.itertuples(index=False):
        at = row.event_time_ms
        if genre is not None and since is not None:
            before = listened
            listened = min(duration, listened + at - since)
            if before < QUALIFY_MS <= listened:
                qualified.append(genre)
            since = at
        if row.operation_type in ("stop", "end", "logout"):
            genre, since, listened = None, None, 0
        elif row.operation_type == "pause":
            since = None
        elif row.operation_type == "resume" and genre is not None:
            since = at
        elif row.operation_type == "start":
            genre, since, listened, duration = row.genre, at, 0, row.duration_ms
    state.update((genre, since, listened, duration))
    rows = [(key[0], genre if since is not None else None, g) for g in qualified or [None]]
    yield pd.DataFrame(rows, columns=["user_id", "genre_now", "qualified_genre"])


def start_baseline_query(
    spark: SparkSession,
    settings: Settings,
    on_batch: Callable[[DataFrame, int], None],
    checkpoint: str,
    *,
    available_now: bool = True,
) -> StreamingQuery:
    from pyspark.sql.streaming.state import GroupStateTimeout

    reader = spark.readStream.format("kafka")
    for key, value in kafka_source_options(settings).items():
        reader = reader.option(key, value)
    plays = _plays(reader.load())
    followed = plays.groupBy("user_id").applyInPandasWithState(
        _follow_user, OUTPUT_SCHEMA, STATE_SCHEMA, "update", GroupStateTimeout.NoTimeout
    )
    writer = (
        followed.writeStream.outputMode("update")
        .option("checkpointLocation", checkpoint)
        .foreachBatch(on_batch)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    return writer.start()
