"""Group-free consumption: assign every partition of some topics at chosen offsets.

Clients read replies and charts this way: no consumer group (so two clients never split a
topic between them, the seed's bug) and no rebalance delay before the first request. A
client reads only the reply partition its id hashes to (``key_partition``): replies are
keyed by client id, so reading every partition would download every client's replies.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from bluetrack.bus.exceptions import BusUnavailable

RETRY_S = 0.5


def partitions_of(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    """The topic's partitions; a broker that drops the connection is asked again until
    ``timeout_s`` (librdkafka fails a metadata request at once on a transport error, e.g.
    while the broker restarts, rather than waiting out the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            meta = consumer.list_topics(topic, timeout=max(0.1, deadline - time.monotonic()))
            break
        except KafkaException as exc:
            if time.monotonic() + RETRY_S >= deadline:
                raise BusUnavailable(f"Kafka is not reachable: {exc.args[0]}") from exc
            time.sleep(RETRY_S)
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        raise BusUnavailable(f"topic {topic!r} does not exist on the broker")
    return sorted(info.partitions)


def key_partition(key: str, partitions: int) -> int:
    """The partition of a record keyed ``key``: librdkafka's default partitioner
    (``consistent_random``) takes the CRC-32 of the key modulo the partition count."""
    return zlib.crc32(key.encode()) % partitions


def assign_at_end(
    consumer: Consumer,
    topics: Iterable[str],
    timeout_s: float,
    *,
    back: int = 0,
    key: str | None = None,
) -> dict[str, int]:
    """Assign all partitions (or only the one records keyed ``key`` go to) positioned
    ``back`` messages before the current end; each topic's partition count."""
    assignment = []
    counts = {}
    for topic in topics:
        partitions = partitions_of(consumer, topic, timeout_s)
        counts[topic] = len(partitions)
        if key is not None:
            partitions = [key_partition(key, len(partitions))]
        for partition in partitions:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
            except KafkaException as exc:
                raise BusUnavailable(f"Kafka is not reachable: {exc.args[0]}") from exc
            assignment.append(TopicPartition(topic, partition, max(low, high - back)))
    consumer.assign(assignment)
    return counts
