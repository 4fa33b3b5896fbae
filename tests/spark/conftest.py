"""Spark fixtures: ONE local SparkSession for the whole test session, and a chart harness.

``chart_settings`` gives each test its own input and chart topics and checkpoint, so tests
never see each other's plays; ``ChartHarness`` produces a log segment, runs the real query
over exactly that segment (``availableNow``: one micro-batch) and steps the reference with
the same segment, so batching is deterministic on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from processor_support import ChartHarness

from bluetrack.config import Settings


@pytest.fixture(scope="session")
def spark(stack_settings: Settings) -> Iterator[Any]:
    from bluetrack.processor.spark_session import build_spark_session

    session = build_spark_session(stack_settings.model_copy(update={"spark_log_level": "ERROR"}))
    yield session
    session.stop()


@pytest.fixture
def chart_settings(
    stack_settings: Settings, kafka_topic: Callable[..., str], tmp_path: Path
) -> Settings:
    return stack_settings.model_copy(
        update={
            "checkpoint_dir": tmp_path / "checkpoint",
            "processor_input_topic": kafka_topic(partitions=2),
            "processor_chart_topic": kafka_topic(partitions=1),
            "trigger_s": 1.0,
        }
    )


@pytest.fixture
def harness(spark: Any, chart_settings: Settings, kafka_clients: Any) -> ChartHarness:
    return ChartHarness(spark, chart_settings, kafka_clients.producer())
