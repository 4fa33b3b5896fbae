"""The latest chart in MongoDB only ever moves forward."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bluetrack.protocol.charts import ChartMessage, GenreCount, Ranking
from bluetrack.store.charts import ChartStore

pytestmark = pytest.mark.integration


def chart(batch_id: int, count: int) -> ChartMessage:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ranking = Ranking(entries=[GenreCount(genre="rock", count=count)])
    return ChartMessage(
        batch_id=batch_id,
        computed_at=at,
        chart_time=at,
        now=ranking,
        trending=ranking,
        all_time=ranking,
    )


def test_only_the_same_or_a_later_batch_replaces_the_latest(mongo_db: Any) -> None:
    store = ChartStore(mongo_db)
    assert store.latest() is None
    assert store.save_latest(chart(5, 50))
    assert not store.save_latest(chart(3, 30))  # a late writer of an older batch loses
    assert store.save_latest(chart(5, 50))  # a replay of the same batch rewrites it
    assert store.save_latest(chart(6, 60))
    assert store.latest() == chart(6, 60)
