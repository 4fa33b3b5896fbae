"""The session stack really works, and `bluetrack` reports on and guards it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bluetrack.config import Settings
from bluetrack.protocol.topics import TOPIC_SPECS, Topic
from bluetrack.stack import part_status
from bluetrack.stack.apps import child_env
from bluetrack.stack.topics import admin_client, wanted_partitions

pytestmark = pytest.mark.integration


def consume_one(consumer: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            return message
    raise AssertionError(f"no message within {timeout_s}s")


def bluetrack(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bluetrack.cli", *args],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_produced_message_is_consumed(kafka_clients: Any, kafka_topic: Any) -> None:
    topic = kafka_topic(partitions=2)
    producer = kafka_clients.producer()
    producer.produce(topic, key=b"user-1", value=b"hello")
    assert producer.flush(10) == 0
    message = consume_one(kafka_clients.consumer(topic))
    assert (message.key(), message.value()) == (b"user-1", b"hello")


def test_the_store_keeps_what_is_inserted(mongo_db: Any) -> None:
    mongo_db.songs.insert_one({"_id": "s1", "title": "Blue", "genre": "jazz"})
    assert mongo_db.songs.find_one({"genre": "jazz"}) == {
        "_id": "s1",
        "title": "Blue",
        "genre": "jazz",
    }


def test_every_protocol_topic_exists_with_its_partition_count(stack_settings: Settings) -> None:
    topics = admin_client(stack_settings).list_topics(timeout=10).topics
    counts = {spec.topic.value: len(topics[spec.topic.value].partitions) for spec in TOPIC_SPECS}
    assert counts == {
        spec.topic.value: wanted_partitions(spec, stack_settings) for spec in TOPIC_SPECS
    }


def test_the_server_keys_topic_is_compacted(stack_settings: Settings) -> None:
    from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

    resource = ConfigResource("topic", Topic.SERVER_KEYS.value)
    admin = admin_client(stack_settings)  # must outlive the future it answers
    configs = admin.describe_configs([resource])[resource].result(10)
    assert configs["cleanup.policy"].value == "compact"


def test_status_shows_each_part_with_address_and_pid(stack_settings: Settings) -> None:
    result = bluetrack(stack_settings, "status")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(lines) >= {"PART", "kafka", "ferretdb", "server", "processor"}
    kafka = part_status(stack_settings, "kafka")
    if kafka.state != "external":
        assert "up  " in lines["kafka"] and str(kafka.pid) in lines["kafka"]
    assert stack_settings.bootstrap_servers in lines["kafka"]


def test_up_on_a_taken_port_fails_with_one_clear_line(tmp_path: Path, busy_port: int) -> None:
    settings = Settings(home=tmp_path, kafka_port=busy_port, kafka_bootstrap_servers=None)
    result = bluetrack(settings, "up")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"bluetrack up: port {busy_port} needed by Kafka is already in use by another program "
        "(stop it, or set BLUETRACK_KAFKA_PORT to a free port)"
    ]


@pytest.mark.slow
def test_a_killed_broker_comes_back_with_its_messages(
    stack_control: Any, kafka_clients: Any, kafka_topic: Any
) -> None:
    topic = kafka_topic()
    producer = kafka_clients.producer(**{"acks": "all"})
    producer.produce(topic, value=b"before the crash")
    assert producer.flush(10) == 0

    stack_control.kill("kafka")
    assert part_status(stack_control.settings, "kafka").state == "down"
    assert stack_control.start("kafka") is not None

    message = consume_one(kafka_clients.consumer(topic), timeout_s=60)
    assert message.value() == b"before the crash"


def test_the_store_keeps_its_data_across_a_restart(stack_control: Any, mongo_db: Any) -> None:
    mongo_db.plays.insert_one({"_id": 1, "song": "s1"})
    stack_control.stop("ferretdb")
    stack_control.start("ferretdb")
    assert mongo_db.plays.find_one({"_id": 1}) == {"_id": 1, "song": "s1"}
