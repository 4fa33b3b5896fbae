"""A client reads only its own reply partition, and follows a reply topic that grows."""

from __future__ import annotations

import time
import zlib
from typing import Any

import pytest
from confluent_kafka.admin import NewPartitions  # type: ignore[attr-defined]

from bluetrack.bus.assign import assign_at_end, key_partition
from bluetrack.bus.kafka import make_consumer
from bluetrack.bus.requests import RequestClient
from bluetrack.config import Settings
from bluetrack.protocol.registry import REPLY_TOPICS
from bluetrack.stack.topics import admin_client

pytestmark = pytest.mark.integration


def test_a_client_reads_only_the_reply_partition_its_id_hashes_to(stack_settings: Settings) -> None:
    client = RequestClient(stack_settings)
    try:
        client._ensure_listening()
        assert client._consumer is not None and client._listener is not None
        client._stop.set()  # the consumer is not to be asked while another thread polls it
        client._listener.join(10)
        read = {(tp.topic, tp.partition) for tp in client._consumer.assignment()}
        expected = {
            (topic, key_partition(client.client_id, stack_settings.reply_partitions))
            for topic in REPLY_TOPICS
        }
        assert read == expected
    finally:
        client.close()


def _key_that_moves(old: int, new: int) -> str:
    """A client id whose partition differs between ``old`` and ``new`` partitions."""
    n = 0
    while (zlib.crc32(f"client-{n}".encode()) % old) == (zlib.crc32(f"client-{n}".encode()) % new):
        n += 1
    return f"client-{n}"


def test_after_a_topic_grows_the_client_also_reads_its_new_partition(
    stack_settings: Settings, kafka_topic: Any, kafka_clients: Any
) -> None:
    topic = kafka_topic(partitions=2)
    key = _key_that_moves(2, 5)
    client = RequestClient(stack_settings, client_id=key)
    consumer = make_consumer(stack_settings, f"test-{key}")
    try:
        counts = assign_at_end(consumer, [topic], timeout_s=30, key=key)
        assert counts == {topic: 2}
        client._consumer = consumer  # the listener's consumer, on a topic of this test
        client._reply_partitions = {topic: {key_partition(key, 2)}}
        assert client.follow_growth() == [], "nothing grew yet"

        admin = admin_client(stack_settings)  # kept: a dropped admin client cancels its calls
        admin.create_partitions([NewPartitions(topic, 5)])[topic].result(30)
        added = client.follow_growth(timeout_s=30)
        assert [(tp.topic, tp.partition) for tp in added] == [(topic, key_partition(key, 5))]
        assert client._reply_partitions[topic] == {key_partition(key, 2), key_partition(key, 5)}

        # A producer that knows the new count sends our keyed reply to the new partition.
        producer = kafka_clients.producer()
        producer.produce(topic, value=b"reply", key=key)
        assert producer.flush(30) == 0
        found = None
        deadline = time.monotonic() + 30
        while found is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found = msg
        assert found is not None and found.value() == b"reply"
        assert found.partition() == key_partition(key, 5)
        assigned = {tp.partition for tp in consumer.assignment() if tp.topic == topic}
        assert assigned == {key_partition(key, 2), key_partition(key, 5)}
    finally:
        client._consumer = None
        client.close()
        consumer.close()


def test_partition_counts_of_a_new_stack(stack_settings: Settings) -> None:
    consumer = make_consumer(stack_settings, "test-partition-counts")
    try:
        meta = consumer.list_topics(timeout=30)
        for topic in REPLY_TOPICS:
            assert len(meta.topics[topic].partitions) == stack_settings.reply_partitions
    finally:
        consumer.close()
