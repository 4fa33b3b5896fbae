"""Fixtures of the security suite: a private broker and a processor on it.

The fuzz test writes junk onto ``songs_tracker_accepted`` (the processor's input, which
anyone can write without ACLs). On the session's broker that junk would sit in front of
every later test that reads the topic from the start (the end-to-end and fault tests), so
tests that need it get their own broker, started once (``isolated_kafka``), with the
session's store. The processor on it (``isolated_processor``) is started once too: a JVM and
a Spark session take a minute or more on a busy machine.

test_forged_plays compares the processor's charts with the reference over every valid
record, so it runs before test_fuzz (file order): while the processor still counts some
records the protocol refuses (the strict xfail in test_fuzz), fuzzed junk read before it
would make the two differ.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from security_support import ChartCollector, RunningProcessor, unique, wait_until

from bluetrack.config import Settings
from bluetrack.stack import apps, lifecycle, processes
from bluetrack.stack.testing import free_ports
from bluetrack.stack.topics import ensure_topics

PROCESSOR_START_S = 300.0


@pytest.fixture(scope="session")
def isolated_kafka(
    stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings for a private broker (own home and ports) and the session's store."""
    kafka_port, controller_port = free_ports(2)
    settings = stack_settings.model_copy(
        update={
            "home": tmp_path_factory.mktemp("isolated"),
            "kafka_bootstrap_servers": None,
            "kafka_port": kafka_port,
            "kafka_controller_port": controller_port,
            "mongodb_uri": stack_settings.store_uri,  # external to this stack: not started
        }
    )
    lifecycle.start_part(settings, "kafka")
    try:
        ensure_topics(settings)
        yield settings
    finally:
        lifecycle.stop_part(settings, "kafka")


@pytest.fixture(scope="session")
def isolated_processor(
    isolated_kafka: Settings, mongo_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProcessor]:
    if not apps.is_present("bluetrack.processor"):
        pytest.skip("the processor has no `python -m bluetrack.processor` yet")
    root = tmp_path_factory.mktemp("processor")
    settings = isolated_kafka.model_copy(
        update={
            "home": root / "home",
            "checkpoint_dir": root / "checkpoint",
            "mongodb_db": unique("processor"),
            "trigger_s": 2.0,
            "window_s": 600,
            "watermark_s": 5,
            "qualify_rule": "spotify",
        }
    )
    settings.home.mkdir(parents=True)
    charts = ChartCollector(settings, settings.processor_checkpoint_dir)
    began = time.monotonic()
    apps.start(settings, "processor", "bluetrack.processor")
    try:
        wait_until(lambda: charts.charts, PROCESSOR_START_S, "the processor's first chart", 1.0)
        print(f"\nprocessor charting after {time.monotonic() - began:.0f} s")
        yield RunningProcessor(settings, charts)
    finally:
        processes.stop(settings.home, "processor", 30.0)
        charts.close()
        mongo_client.drop_database(settings.mongodb_db)
