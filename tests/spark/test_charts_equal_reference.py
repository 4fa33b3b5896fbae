"""The Spark job's charts equal the reference's, batch by batch, over the same segments."""

from __future__ import annotations

from typing import Any

import pytest
from processor_support import ChartHarness, LogShape, comparable, play_log

from bluetrack.processor.job import chart_sink

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def test_every_batch_chart_equals_the_reference(harness: ChartHarness, mongo_db: Any) -> None:
    # Switching tracks, pauses, ends, logouts, duplicates (same and next batch), late events.
    segments = play_log(LogShape(late_per_segment=4))
    settings = harness.settings.model_copy(update={"mongodb_db": mongo_db.name})
    with chart_sink(settings) as sink:
        for segment in segments:
            harness.feed(sink, segment)
    charts = [report.chart for report in sink.reports]
    assert [comparable(c) for c in charts] == [comparable(c) for c in harness.expected]
    # The scenario really exercises the rules it claims to.
    assert sum(c.late_dropped for c in charts) > 0
    assert charts[-1].all_time.entries and charts[-1].trending.entries
    assert [c.batch_id for c in charts] == list(range(len(segments)))
    # The latest chart is in the store for clients that connect later.
    stored = mongo_db["charts"].find_one({"_id": "latest"})
    assert stored is not None and stored["batch_id"] == len(segments) - 1
