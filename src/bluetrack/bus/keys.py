"""Finding the server's public key: pinned in settings, or the latest on the keys topic."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from bluetrack.bus.assign import partitions_of
from bluetrack.bus.exceptions import BusUnavailable
from bluetrack.bus.kafka import make_consumer
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.messages import ServerKey
from bluetrack.protocol.topics import Topic


def fetch_server_key(settings: Settings, timeout_s: float | None = None) -> ServerKey:
    if settings.server_public_key:
        return ServerKey(
            public_key=settings.server_public_key, key_id="pinned-key", published_at=utc_now()
        )
    timeout = timeout_s if timeout_s is not None else settings.request_timeout_s
    consumer = make_consumer(settings, "bt-keys-reader")
    try:
        return _latest_key(consumer, timeout)
    finally:
        consumer.close()


def _latest_key(consumer: Consumer, timeout: float) -> ServerKey:
    partitions = partitions_of(consumer, Topic.SERVER_KEYS, timeout)
    ends: dict[int, int] = {}
    assignment = []
    for p in partitions:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(Topic.SERVER_KEYS, p), timeout=timeout
        )
        if high > low:
            ends[p] = high
            assignment.append(TopicPartition(Topic.SERVER_KEYS, p, low))
    if not assignment:
        raise BusUnavailable("the server has not published its key yet: is the server running?")
    consumer.assign(assignment)
    latest: ServerKey | None = None
    deadline = time.monotonic() + timeout
    while ends and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        partition, offset = msg.partition() or 0, msg.offset() or 0
        if offset + 1 >= ends.get(partition, 0):
            ends.pop(partition, None)
        try:
            latest = codec.decode(msg.value(), ServerKey)
        except DecodeError:
            continue  # someone wrote junk to the keys topic; keep the last good key
    if latest is None:
        raise BusUnavailable("no valid server key found on the keys topic")
    return latest
