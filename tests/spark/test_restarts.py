"""Crashes at every point of a batch, and kill -9: no play lost or counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from processor_support import ChartHarness, LogShape, comparable, play_log, records

from bluetrack.config import Settings
from bluetrack.core.charts import ReferenceCharts
from bluetrack.processor.exceptions import PublishError
from bluetrack.processor.job import chart_sink, rules_of
from bluetrack.processor.sink import BatchReport
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.stack.apps import child_env

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def latest_per_batch(charts: list[ChartMessage]) -> list[ChartMessage]:
    """What a consumer keeps: one chart per batch id (a replay repeats an identical one)."""
    by_batch = {chart.batch_id: chart for chart in charts}
    return [by_batch[b] for b in sorted(by_batch)]


class CrashOnce:
    """Raises the first time it is armed, as a crash at that point of the sink would."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, batch_id: int, armed: bool = True) -> None:
        if armed and not self.fired:
            self.fired = True
            raise PublishError(f"injected crash in batch {batch_id}")


def with_plays(charts: list[ChartMessage]) -> list[ChartMessage]:
    """Charts of batches that had plays (a restarted query may add a tick-only batch)."""
    return [c for c in latest_per_batch(charts) if c.input_rows]


def test_crash_before_and_after_the_state_write_replays_identically(
    harness: ChartHarness,
) -> None:
    segments = play_log(LogShape(segments=4, users=20))
    charts: list[ChartMessage] = []
    settings = harness.settings
    # Batches 0-1 in one "process"; every `with chart_sink` below is a fresh process' sink.
    with chart_sink(settings, store_charts=False) as sink:
        for segment in segments[:2]:
            harness.feed(sink, segment)
        charts += [r.chart for r in sink.reports]

    # Batch 2 crashes after its chart is published but before its state is written ...
    harness.produce(segments[2])
    harness.expect(segments[2])
    with chart_sink(settings, store_charts=False) as sink:
        crash = CrashOnce()
        states = sink._states  # the crash point: between publishing and saving the state
        original_save = states.save

        def save_then_maybe_crash(batch_id: int, data: bytes) -> None:
            crash(batch_id)
            original_save(batch_id, data)

        states.save = save_then_maybe_crash  # type: ignore[method-assign]
        with pytest.raises(Exception, match="injected crash"):
            harness.run_once(sink)
    # ... and Spark replays it (same offsets) in the next process, from state 1.
    with chart_sink(settings, store_charts=False) as sink:
        harness.run_once(sink)
        charts += [r.chart for r in sink.reports]

    # Batch 3 crashes after its state is written but before Spark commits it.
    harness.produce(segments[3])
    harness.expect(segments[3])
    crash = CrashOnce()

    def crash_after_state(report: BatchReport) -> None:
        crash(report.batch_id, armed=report.plays > 0)

    with chart_sink(settings, store_charts=False, on_batch=crash_after_state) as sink:
        with pytest.raises(Exception, match="injected crash"):
            harness.run_once(sink)
        charts += [r.chart for r in sink.reports]
    with chart_sink(settings, store_charts=False) as sink:
        harness.run_once(sink)
        charts += [r.chart for r in sink.reports]

    # The batch that crashed after its state was written was published twice, identically.
    with_rows = [c for c in charts if c.input_rows]
    ids = [c.batch_id for c in with_rows]
    assert len(ids) == len(set(ids)) + 1
    repeated = [c for c in with_rows if ids.count(c.batch_id) == 2]
    assert comparable(repeated[0]) == comparable(repeated[1])
    kept = with_plays(charts)
    assert [comparable(c) for c in kept] == [comparable(c) for c in harness.expected]


def _start_processor(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = child_env(settings)
    env["PYSPARK_PYTHON"] = sys.executable
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bluetrack.processor"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _charts(consumer: Any, until: float, want: ChartMessage) -> list[ChartMessage]:
    """Read charts until one equals ``want`` (or time runs out)."""
    seen: list[ChartMessage] = []
    while time.monotonic() < until:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        chart = codec.decode(message.value(), ChartMessage, max_bytes=1 << 20)
        assert message.key() == b"chart"
        seen.append(chart)
        if _same_counts(chart, want):
            return seen
    return seen


def _same_counts(chart: ChartMessage, want: ChartMessage) -> bool:
    fields = {"now", "trending", "all_time", "chart_time", "watermark"}
    return chart.model_dump(include=fields) == want.model_dump(include=fields)


def test_kill_9_and_restart_from_the_checkpoint(
    chart_settings: Settings, kafka_clients: Any, tmp_path: Path
) -> None:
    # No late events: then the final chart does not depend on where batches were cut.
    segments = play_log(LogShape(segments=4, users=20, jitter_s=5), seed=11)
    producer = kafka_clients.producer()
    consumer = kafka_clients.consumer(str(chart_settings.processor_chart_topic))
    reference = ReferenceCharts(rules_of(chart_settings))
    for segment in segments:
        reference.step(records(segment), 0)
    want = reference.step([], 0).to_message(0, segments[0][0].accepted_at, "spotify")
    settings = chart_settings.model_copy(update={"home": tmp_path, "log_level": "INFO"})
    log = tmp_path / "processor.log"

    def produce(plays: list[Any]) -> None:
        for play in plays:
            producer.produce(str(settings.processor_input_topic), codec.encode(play), play.user_id)
        producer.flush(30)

    first = _start_processor(settings, log)
    try:
        produce(segments[0] + segments[1])
        deadline = time.monotonic() + 120
        while "batch " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)  # the first batch is done: the job is up
        produce(segments[2])
        time.sleep(1.5)  # kill it mid-stream, likely inside a batch
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    produce(segments[3])
    second = _start_processor(settings, log)
    try:
        charts = _charts(consumer, time.monotonic() + 180, want)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(60)
    assert charts, f"no chart published; log:\n{log.read_text()[-3000:]}"
    assert _same_counts(charts[-1], want), log.read_text()[-3000:]
    batch_ids = [c.batch_id for c in charts]
    assert batch_ids == sorted(batch_ids)  # a replay repeats a batch id, never goes back
