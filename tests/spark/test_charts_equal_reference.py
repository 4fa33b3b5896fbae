"""The Spark job's charts equal the reference's, batch by batch, over the same segments."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from processor_support import ChartHarness, LogShape, comparable, play_log

from bluetrack.processor.job import chart_sink, start_chart_query
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.plays import AcceptedPlay
from bluetrack.protocol.topics import Topic

BAD_RECORDS = {
    b"not json at all": "not JSON lines",
    b'{"type": "play_accepted", "version": 1}': "missing",
    b"": "a frame with no plays",
}

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def _invalid_play(play: AcceptedPlay, **changes: Any) -> bytes:
    """A real play with one field broken (the model itself would refuse to build it)."""
    fields = play.model_dump(mode="json")
    fields.update(changes)
    return json.dumps(fields).encode()


def test_every_batch_chart_equals_the_reference(
    harness: ChartHarness, mongo_db: Any, kafka_clients: Any
) -> None:
    # Switching tracks, pauses, ends, logouts, duplicates (same and next batch), late events.
    segments = play_log(LogShape(late_per_segment=4))
    settings = harness.settings.model_copy(update={"mongodb_db": mongo_db.name})
    broken = {
        _invalid_play(segments[1][0], operation_type="rewind"): "operation_type: not one of",
        _invalid_play(segments[1][0], duration_ms=-5): "duration_ms: less than 0",
        _invalid_play(segments[1][0], event_time="2026-01-01T00:01:00"): "event_time: not an ISO",
        _invalid_play(segments[1][0], user_id=None): "user_id: missing",
        **BAD_RECORDS,
    }
    dead = kafka_clients.consumer(str(Topic.DEAD_LETTER))
    with chart_sink(settings) as sink:
        for index, segment in enumerate(segments):
            # Bad records in batch 1 are dead-lettered; the query goes on with the good ones.
            harness.feed(sink, segment, extra=list(broken) if index == 1 else [])
    charts = [report.chart for report in sink.reports]
    assert [comparable(c) for c in charts] == [comparable(c) for c in harness.expected]
    # The scenario really exercises the rules it claims to.
    assert sum(c.late_dropped for c in charts) > 0
    assert charts[-1].all_time.entries and charts[-1].trending.entries
    assert [c.batch_id for c in charts] == list(range(len(segments)))
    # The latest chart is in the store for clients that connect later.
    stored = mongo_db["charts"].find_one({"_id": "latest"})
    assert stored is not None and stored["batch_id"] == len(segments) - 1

    assert charts[1].input_rows == len(segments[1])
    assert sink.reports[1].dead_letters == len(broken)
    letters = _dead_letters(dead, str(settings.processor_input_topic), len(broken))
    assert sorted(letter.payload.encode() for letter in letters) == sorted(broken)
    for letter in letters:
        assert broken[letter.payload.encode()] in letter.reason
        assert letter.component == "processor" and letter.offset is not None


def _dead_letters(consumer: Any, source_topic: str, count: int) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + 30
    while len(letters) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        letter = codec.decode(message.value(), DeadLetter, max_bytes=1 << 20)
        if letter.source_topic == source_topic:
            letters.append(letter)
    return letters


def test_a_chart_every_trigger_even_without_plays(harness: ChartHarness) -> None:
    """Spark skips empty triggers; the tick source makes every trigger a batch and a chart."""
    with chart_sink(harness.settings, store_charts=False) as sink:
        query = start_chart_query(harness.spark, harness.settings, sink)  # trigger 1 s, ticks
        try:
            deadline = time.monotonic() + 60
            while len(sink.reports) < 3 and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            query.stop()
    charts: list[ChartMessage] = [r.chart for r in sink.reports]
    assert len(charts) >= 3
    assert [c.batch_id for c in charts] == list(range(len(charts)))
    assert all(c.input_rows == 0 and c.now.entries == [] for c in charts)
