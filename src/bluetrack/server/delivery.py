"""Producing records and knowing when all of a message's records have been delivered."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, Producer

from bluetrack.server.outcome import Outgoing

log = logging.getLogger(__name__)


def produce(producer: Producer, record: Outgoing, on_delivery: Any = None) -> None:
    """Enqueue one record; when the local queue is full, serve deliveries until it is not."""
    while True:
        try:
            producer.produce(record.topic, record.value, record.key, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)


def produce_to(
    producer: Producer, topic: str, partition: int, value: bytes, on_delivery: Any = None
) -> None:
    """``produce`` for a record whose partition we chose (no key: see the caller)."""
    while True:
        try:
            producer.produce(topic, value, partition=partition, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)


class DeliveryCountdown:
    """Calls ``done(ok)`` once every record of one input message was delivered (or failed)."""

    def __init__(self, count: int, done: Callable[[bool], None]) -> None:
        self._left = count
        self._ok = True
        self._done = done
        self._lock = threading.Lock()
        if count == 0:
            done(True)

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            log.error("delivery to %s failed: %s", msg.topic(), err)
        with self._lock:
            self._ok = self._ok and err is None
            self._left -= 1
            finished = self._left == 0
        if finished:
            self._done(self._ok)


def produce_all(
    producer: Producer, records: Sequence[Outgoing], done: Callable[[bool], None]
) -> None:
    countdown = DeliveryCountdown(len(records), done)
    for record in records:
        produce(producer, record, countdown)
