"""Group-free consumption: assign every partition of some topics at chosen offsets.

Clients read replies and charts this way: no consumer group (so two clients never split a
topic between them, the seed's bug) and no rebalance delay before the first request.
"""

from __future__ import annotations

import time
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


def assign_at_end(
    consumer: Consumer, topics: Iterable[str], timeout_s: float, *, back: int = 0
) -> None:
    """Assign all partitions positioned ``back`` messages before the current end."""
    assignment = []
    for topic in topics:
        for partition in partitions_of(consumer, topic, timeout_s):
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s
                )
            except KafkaException as exc:
                raise BusUnavailable(f"Kafka is not reachable: {exc.args[0]}") from exc
            assignment.append(TopicPartition(topic, partition, max(low, high - back)))
    consumer.assign(assignment)
