"""The chart processor end to end: Kafka -> Spark -> engine -> top_genres, and the baseline.

For each listener count (100k and 1M distinct listeners by default) a producer thread sends
pre-generated accepted plays, in frames as the server sends them, at a fixed rate
(confluent-kafka, the project's producer settings) while the real chart query runs in this
process with the production trigger.
Reported per run:

* ``sustained_events_per_s``: events produced / time from the first send until the last
  one was charted (equals the offered rate when the processor keeps up);
* batch duration against the trigger (the first batch, JVM warm-up, is shown apart);
* freshness: for every play, the time from its produce (its Kafka timestamp) to the
  delivery of the first chart that counted it, p50/p95/p99;
* engine state (rows, bytes on disk per batch) and memory (RSS of the driver JVM and of
  this Python process, peak).

The seed-style design (``processor/baseline.py``, a per-user ``applyInPandasWithState``) and
this design then each drain the same backlog with the same batch size, for a like-for-like
events/s. Sizes come from the environment: BENCH_PROCESSOR_RATE (events/s,
105000: a little over the 100k target, so meeting it shows),
BENCH_PROCESSOR_SECONDS (30), BENCH_PROCESSOR_LISTENERS ("100000,1000000"),
BENCH_PROCESSOR_BACKLOG (events for the backlog comparison, 60000: the baseline is slow).

    .venv/bin/python -m bench.bench_processor
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bluetrack.bus.kafka import make_producer
from bluetrack.config import Settings
from bluetrack.processor.job import CheckpointLayout, chart_sink, start_chart_query
from bluetrack.processor.sink import FRESHNESS_BUCKET_MS, BatchReport
from bluetrack.protocol.frames import MAX_FRAME_PLAYS, columnar_frame, frames_of
from bluetrack.stack.testing import running_stack
from bluetrack.stack.topics import admin_client

RATE = int(os.environ.get("BENCH_PROCESSOR_RATE", "105000"))  # a little over the target
SECONDS = float(os.environ.get("BENCH_PROCESSOR_SECONDS", "30"))
LISTENERS = [
    int(n) for n in os.environ.get("BENCH_PROCESSOR_LISTENERS", "100000,1000000").split(",")
]
BACKLOG = int(os.environ.get("BENCH_PROCESSOR_BACKLOG", "60000"))
TRIGGER_S = 5.0
# What the issue asks for; the bench runner writes each figure beside its target.
TARGETS = {
    "sustained_events_per_s": (">=", 100_000),
    "batch_ms_max": ("<=", TRIGGER_S * 1000),
    "batches_over_trigger": ("<=", 0),
    "freshness.p95_ms": ("<=", TRIGGER_S * 1000 + 2000),
}
PARTITIONS = 4
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: event times are synthetic, paced with the rate
OPERATIONS = np.array(["start", "stop", "end", "pause", "resume"])
OPERATION_WEIGHTS = [0.6, 0.13, 0.12, 0.07, 0.08]
GENRES = 20
TRACKS = 5_000
SLICE = 4000  # consecutive events packed per partition into frames: 40 ms at 100k/s
DURATIONS_MS = np.array([95_000, 180_000, 215_000, 240_000], dtype=np.int64)


# --- the workload --------------------------------------------------------------------------


def _iso(ms: int) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return f"{seconds}.{ms % 1000:03d}Z"


def event_log(
    count: int, listeners: int, rate: int, seed: int, *, columnar: bool = True
) -> list[tuple[int, int, bytes]]:
    """(due event index, partition, frame) of accepted plays, as the server sends them.

    Event time advances at ``rate`` per second. Ids look like the server's (random 32-hex
    event and user ids, 22-character track ids from a catalogue-sized pool), so frames
    compress as real ones do. Like the server, a user's plays go to one partition and each
    slice of consecutive events becomes one frame per partition: columnar (the server's
    form) unless told, else plain AcceptedPlay JSON lines (protocol/frames.py); a frame is
    due once its last event is.
    """
    rng = np.random.default_rng(seed)
    users = rng.integers(0, listeners, count)
    user_ids = rng.bytes(16 * listeners).hex()
    event_ids = rng.bytes(16 * count).hex()
    tracks = rng.integers(0, TRACKS, count)
    track_ids = [rng.bytes(11).hex() for _ in range(TRACKS)]
    operations = OPERATIONS[rng.choice(len(OPERATIONS), count, p=OPERATION_WEIGHTS)]
    event_ms = T0_MS + np.arange(count, dtype=np.int64) * 1000 // rate
    # A play other than a start began earlier (up to 4 minutes): its start time differs.
    start_ms = event_ms - np.where(operations == "start", 0, rng.integers(0, 240_000, count))
    stamps: dict[int, str] = {}

    def stamp(ms: int) -> str:
        return stamps.get(ms) or stamps.setdefault(ms, _iso(ms))

    genres = tracks % GENRES
    columns: dict[str, list[Any]] = {
        "version": [1] * count,
        "type": ["play_accepted"] * count,
        "event_id": [event_ids[32 * i : 32 * i + 32] for i in range(count)],
        "user_id": [user_ids[32 * int(u) : 32 * int(u) + 32] for u in users],
        "track_id": [track_ids[t] for t in tracks.tolist()],
        "operation_type": operations.tolist(),
        "start_time": [stamp(ms) for ms in start_ms.tolist()],
        "event_time": [stamp(ms) for ms in event_ms.tolist()],
        "duration_ms": DURATIONS_MS[genres % 4].tolist(),
        "genre": [f"genre-{g:02d}" for g in genres.tolist()],
        "accepted_at": [stamp(ms) for ms in event_ms.tolist()],
    }
    partitions = users % PARTITIONS
    frames = []
    for start in range(0, count, SLICE):
        stop = min(count, start + SLICE)
        for partition in range(PARTITIONS):
            rows = (np.flatnonzero(partitions[start:stop] == partition) + start).tolist()
            for first in range(0, len(rows), MAX_FRAME_PLAYS):
                chosen = rows[first : first + MAX_FRAME_PLAYS]
                picked = {name: [values[i] for i in chosen] for name, values in columns.items()}
                frames.append((stop, partition, _frame(picked, columnar)))
    return frames


def _frame(columns: dict[str, list[Any]], columnar: bool) -> bytes:
    if columnar:
        return columnar_frame(columns)
    names = list(columns)
    lines = [
        json.dumps(dict(zip(names, row, strict=True)), separators=(",", ":")).encode()
        for row in zip(*columns.values(), strict=True)
    ]
    [frame] = frames_of(lines)
    return frame


def _producer(settings: Settings) -> Any:
    return make_producer(
        settings, **{"queue.buffering.max.messages": 2_000_000, "batch.size": 1_000_000}
    )


def produce_paced(
    settings: Settings, topic: str, frames: list[tuple[int, int, bytes]], rate: int
) -> float:
    """Send each frame when its last event is due at ``rate`` events/s; seconds taken."""
    producer = _producer(settings)
    began = time.monotonic()
    sent = 0
    while sent < len(frames):
        due_events = int((time.monotonic() - began) * rate) + 1
        while sent < len(frames) and frames[sent][0] <= due_events:
            _, partition, frame = frames[sent]
            _produce(producer, topic, partition, frame)
            sent += 1
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(60)
    return time.monotonic() - began


def _produce(producer: Any, topic: str, partition: int, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value, partition=partition)
            return
        except BufferError:
            producer.poll(0.05)


def create_topics(settings: Settings, *names: str, partitions: int = PARTITIONS) -> None:
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    admin = admin_client(settings)
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names])
    for future in futures.values():
        future.result(30)


# --- measuring ------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentiles(histogram: np.ndarray) -> dict[str, int | None]:
    total = int(histogram.sum())
    if not total:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cumulative = np.cumsum(histogram)
    out: dict[str, int | None] = {}
    for q in (50, 95, 99):
        bucket = int(np.searchsorted(cumulative, total * q / 100))
        out[f"p{q}_ms"] = (bucket + 1) * FRESHNESS_BUCKET_MS
    return out


class Watch:
    """Collects batch reports and samples memory while a query runs."""

    def __init__(self, jvm_pid: int) -> None:
        self.jvm_pid = jvm_pid
        self.reports: list[BatchReport] = []
        self.peak_jvm_mb = 0.0
        self.peak_python_mb = 0.0
        self.rows = 0

    def __call__(self, report: BatchReport) -> None:
        self.reports.append(report)
        self.rows += report.plays
        self.peak_jvm_mb = max(self.peak_jvm_mb, rss_mb(self.jvm_pid))
        self.peak_python_mb = max(self.peak_python_mb, rss_mb(os.getpid()))


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def sustained_run(spark: Any, settings: Settings, listeners: int, home: Path) -> dict[str, Any]:
    tag = f"{listeners}_{int(time.time())}"
    run_settings = settings.model_copy(
        update={
            "checkpoint_dir": home / f"checkpoint-{tag}",
            "processor_input_topic": f"bench_plays_{tag}",
            "processor_chart_topic": f"bench_charts_{tag}",
            "trigger_s": TRIGGER_S,
        }
    )
    create_topics(run_settings, f"bench_plays_{tag}")
    create_topics(run_settings, f"bench_charts_{tag}", partitions=1)
    count = int(RATE * SECONDS)
    warmup = int(RATE * TRIGGER_S)
    frames = event_log(warmup + count, listeners, RATE, seed=listeners)
    # Frames end on slice boundaries: the warm-up is the whole frames due by then.
    total = warmup + count
    warmup = max((due for due, _, _ in frames if due <= warmup), default=0)
    count = total - warmup
    warmup_frames = [f for f in frames if f[0] <= warmup]
    frames = [(due - warmup, p, f) for due, p, f in frames if due > warmup]
    watch = Watch(spark._jvm.java.lang.ProcessHandle.current().pid())
    with chart_sink(run_settings, on_batch=watch) as sink:
        query = start_chart_query(spark, run_settings, sink)
        try:
            # One trigger's worth of plays first: the JVM compiles the parse path on it (the
            # first big batch costs ~3x the CPU of later ones), and it is not measured.
            produce_paced(run_settings, f"bench_plays_{tag}", warmup_frames, RATE)
            _wait(lambda: watch.rows >= warmup, 300)
            measured_from = len(watch.reports)
            watch.rows = 0
            began = time.monotonic()
            producing = threading.Thread(
                target=produce_paced,
                args=(run_settings, f"bench_plays_{tag}", frames, RATE),
            )
            producing.start()
            producing.join()
            produced_s = time.monotonic() - began
            caught_up = _wait(lambda: watch.rows >= count, 120)
            charted_s = time.monotonic() - began
        finally:
            query.stop()
    state_dir = CheckpointLayout(run_settings.processor_checkpoint_dir).engine
    state_bytes = max((p.stat().st_size for p in state_dir.glob("state_*")), default=0)
    watch.reports = watch.reports[measured_from:]
    return _summary(watch, count, produced_s, charted_s, caught_up, listeners, state_bytes)


def _summary(
    watch: Watch,
    count: int,
    produced_s: float,
    charted_s: float,
    caught_up: bool,
    listeners: int,
    state_bytes: int,
) -> dict[str, Any]:
    loaded = [r for r in watch.reports if r.plays]
    batch_ms = [r.batch_ms for r in loaded] or [0.0]
    histogram = sum((r.freshness_histogram for r in loaded), np.zeros(1, np.int64))
    busy_s = sum(batch_ms) / 1000
    # Kept up: every batch inside its trigger and the last plays charted within one trigger
    # plus one batch of the last send; then the processor sustained what was offered.
    kept_up = caught_up and max(batch_ms) <= TRIGGER_S * 1000
    kept_up = kept_up and charted_s - produced_s <= TRIGGER_S + max(batch_ms) / 1000
    return {
        "listeners": listeners,
        "events": count,
        "offered_events_per_s": RATE,
        "produced_events_per_s": round(count / produced_s),
        "kept_up": kept_up,
        "sustained_events_per_s": round(count / (produced_s if kept_up else charted_s)),
        "capacity_events_per_s": round(sum(r.plays for r in loaded) / max(busy_s, 1e-9)),
        "caught_up": caught_up,
        "trigger_ms": TRIGGER_S * 1000,
        "batches": len(loaded),
        "batch_ms_p50": round(float(np.median(batch_ms))),
        "batch_ms_max": round(max(batch_ms)),
        "batches_over_trigger": sum(b > TRIGGER_S * 1000 for b in batch_ms),
        "batch_events_max": max((r.plays for r in loaded), default=0),
        "engine_ms_max": round(max((r.engine_ms for r in loaded), default=0)),
        "pull_ms_max": round(max((r.pull_ms for r in loaded), default=0)),
        "state_write_ms_max": round(max((r.state_ms for r in loaded), default=0)),
        "freshness": percentiles(histogram),
        "state_rows": loaded[-1].state_rows if loaded else 0,
        "state_mb": round(state_bytes / 1e6, 1),
        "driver_jvm_rss_mb": round(watch.peak_jvm_mb),
        "python_rss_mb": round(watch.peak_python_mb),
    }


# --- the baseline, like for like -------------------------------------------------------------


def backlog_runs(spark: Any, settings: Settings, home: Path) -> dict[str, Any]:
    """Both designs drain the same backlog (100k listeners), ``BACKLOG // 2`` events a batch."""
    from bluetrack.processor.baseline import start_baseline_query

    topic = f"bench_backlog_{int(time.time())}"
    create_topics(settings, topic)
    # Plain frames: the baseline splits them into lines with Spark SQL, which reads no Arrow.
    frames = event_log(BACKLOG, 100_000, RATE, seed=3, columnar=False)
    producer = _producer(settings)
    for _, partition, frame in frames:
        _produce(producer, topic, partition, frame)
    producer.flush(60)
    per_batch = BACKLOG // 2  # events; Spark's limit counts records, i.e. frames
    frames_per_batch = max(1, len(frames) // 2)
    backlog = settings.model_copy(
        update={
            "processor_input_topic": topic,
            "processor_chart_topic": f"{topic}_charts",
            "processor_max_offsets_per_trigger": frames_per_batch,
            "checkpoint_dir": home / f"{topic}-design",
        }
    )
    create_topics(settings, f"{topic}_charts", partitions=1)

    with chart_sink(backlog, store_charts=False) as sink:
        query = start_chart_query(spark, backlog, sink, available_now=True)
        query.awaitTermination()
    design = _progress(query, BACKLOG)

    def count_rows(batch: Any, batch_id: int) -> None:
        batch.groupBy("genre_now").count().collect()

    query = start_baseline_query(spark, backlog, count_rows, str(home / f"{topic}-baseline"))
    query.awaitTermination()
    baseline = _progress(query, BACKLOG)
    return {
        "backlog_events": BACKLOG,
        "events_per_batch": per_batch,
        "this_design": design,
        "seed_style_baseline": baseline,
        "speedup": round(design["events_per_s"] / max(baseline["events_per_s"], 1), 1),
    }


def _progress(query: Any, events: int) -> dict[str, Any]:
    """Spark counts input rows as Kafka records (frames); events/s is over the plays."""
    batches = [p for p in query.recentProgress if p["numInputRows"] > 0]
    ms = [p["durationMs"]["triggerExecution"] for p in batches]
    return {
        "batches": len(batches),
        "batch_ms": ms,
        "events_per_s": round(events / max(sum(ms) / 1000, 1e-9)),
    }


# --- entry points ----------------------------------------------------------------------------


def measure(settings: Settings) -> dict[str, Any]:
    from bluetrack.processor.spark_session import build_spark_session

    spark = build_spark_session(settings.model_copy(update={"spark_log_level": "ERROR"}))
    with tempfile.TemporaryDirectory(prefix="bench-processor-") as home:
        runs = {
            f"sustained_{n // 1000}k_listeners": sustained_run(spark, settings, n, Path(home))
            for n in LISTENERS
        }
        runs["backlog_vs_baseline"] = backlog_runs(spark, settings, Path(home))
    return {"bench": "processor", "trigger_s": TRIGGER_S, **runs}


def run(settings: Settings | None = None) -> dict[str, Any]:
    """On the stack of ``settings``, or on a private Kafka + FerretDB started for the run."""
    if settings is not None:
        return measure(settings)
    with (
        tempfile.TemporaryDirectory(prefix="bench-processor-stack-") as home,
        running_stack(Path(home)) as private,
    ):
        return measure(private)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
