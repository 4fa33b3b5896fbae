"""Producing records and knowing when all of a message's records have been delivered."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, Producer

from bluetrack.server.outcome import Outgoing

log = logging.getLogger(__name__)

AHEAD_TIMEOUT_S = 10.0


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


def produce_in_order(
    producer: Producer,
    records: Sequence[Outgoing],
    done: Callable[[bool], None],
    *,
    timeout_s: float = AHEAD_TIMEOUT_S,
) -> None:
    """``produce_all``, but the records marked ``before_reply`` are delivered first (or
    failed, or ``timeout_s`` passed) and only then are the others (the reply) produced.

    Blocks the calling worker while it waits, serving delivery callbacks itself (they are
    thread-safe), so the wait is the broker's acknowledgement, not the loop's next poll.
    """
    ahead = [r for r in records if r.before_reply]
    if ahead:
        delivered = threading.Event()
        produce_all(producer, ahead, lambda ok: delivered.set())
        deadline = time.monotonic() + timeout_s
        while not delivered.is_set() and time.monotonic() < deadline:
            producer.poll(0.01)
        if not delivered.is_set():
            log.warning(
                "%d record(s) unconfirmed after %.1f s; replying anyway", len(ahead), timeout_s
            )
    produce_all(producer, [r for r in records if not r.before_reply], done)
