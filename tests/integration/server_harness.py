"""Running a real server in-process for integration tests, and reading topics raw.

Used by test_server.py and test_plays.py (not a test module itself).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bluetrack.bus.assign import partitions_of
from bluetrack.config import Settings
from bluetrack.server.runner import Server


def server_settings(base: Settings, db_name: str, **overrides: Any) -> Settings:
    return base.model_copy(
        update={
            "mongodb_db": db_name,
            "bcrypt_cost": 4,
            "login_max_failures": 3,
            "login_base_delay_s": 2.0,
            "request_timeout_s": 20.0,
            "register_per_client_per_minute": 1000,  # the unit tests cover the limit
            "session_recheck_s": 1.0,  # see changes made behind the server's back quickly
            **overrides,
        }
    )


def import_test_catalogue(db: Any, per_genre: int = 6) -> None:
    """A small generated catalogue (114 genres), imported by the real importer."""
    from bluetrack.catalogue.importer import import_catalogue
    from bluetrack.catalogue.sources import GeneratedSource

    import_catalogue(db, GeneratedSource(seed=7, per_genre=per_genre))


@contextmanager
def running_server(settings: Settings) -> Iterator[Server]:
    """A server wired exactly as ``python -m bluetrack.server`` wires it, in this process."""
    server = Server(settings)
    server.start()
    try:
        assert server.wait_ready(60), "the server's consumers got no partitions"
        yield server
    finally:
        server.stop()


def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every record on ``topic`` right now, read raw as any outsider could."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        ends: dict[int, int] = {}
        assignment = []
        for partition in partitions_of(consumer, topic, timeout_s):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout_s)
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(topic, partition, low))
        consumer.assign(assignment)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            records.append(msg)
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if offset + 1 >= ends.get(partition, 0):
                ends.pop(partition, None)
        return records
    finally:
        consumer.close()


def wait_for(find: Callable[[], Any], timeout_s: float = 30.0, what: str = "it") -> Any:
    """Poll ``find`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f}s")
