"""The request consumer: requests handled concurrently, offsets committed in order.

bcrypt at cost 12 takes ~250 ms, so requests run in a pool of ``server_workers`` threads
(bcrypt releases the GIL): a slow login never delays a songs_update behind it. The loop
thread only polls, hands out work, serves delivery callbacks and commits.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from bluetrack.protocol.registry import EXCHANGES
from bluetrack.server.delivery import produce_all
from bluetrack.server.offsets import OffsetTracker
from bluetrack.server.service import ServerService

log = logging.getLogger(__name__)

REQUEST_TOPICS = [str(e.request_topic) for e in EXCHANGES]
DRAIN_BATCH = 64


class RequestLoop:
    def __init__(
        self,
        service: ServerService,
        consumer: Consumer,
        producer: Producer,
        *,
        workers: int,
        stop: threading.Event,
    ) -> None:
        self._service = service
        self._consumer = consumer
        self._producer = producer
        self._stop = stop
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="request")
        # Enough queued work to keep every worker busy, not so much that a rebalance
        # waits on a long tail.
        self._slots = threading.BoundedSemaphore(workers * 4)
        self._offsets = OffsetTracker()
        self._last_error = ""
        self.handled = 0
        self.assigned = threading.Event()  # set once the group gave us partitions

    def run(self) -> None:
        self._consumer.subscribe(
            REQUEST_TOPICS, on_assign=lambda *_: self.assigned.set(), on_revoke=self._on_revoke
        )
        try:
            while not self._stop.is_set():
                self._poll_once()
        finally:
            self._pool.shutdown(wait=True)
            self._producer.flush(10)
            self._commit()
            self._consumer.close()

    def _poll_once(self) -> None:
        # poll() returns as soon as one request arrives (consume() would wait for a full
        # batch); then take whatever else is already fetched without waiting.
        first = self._consumer.poll(0.05)
        if first is not None:
            for msg in [first, *self._consumer.consume(DRAIN_BATCH, 0)]:
                self._dispatch(msg)
        self._producer.poll(0)
        self._commit()

    def _dispatch(self, msg: Any) -> None:
        if msg.error() is not None:
            self._log_consumer_error(msg.error())
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        self._offsets.started(topic, partition, offset)
        while not self._slots.acquire(timeout=0.1):
            self._producer.poll(0)  # serve deliveries: they free slots
        self._pool.submit(self._handle, msg, topic, partition, offset)

    def _handle(self, msg: Any, topic: str, partition: int, offset: int) -> None:
        def delivered(ok: bool) -> None:
            # A reply that cannot be delivered is logged by the countdown; re-handling the
            # request would not help a client that has long timed out.
            self._offsets.finished(topic, partition, offset)
            self.handled += 1

        try:
            records = self._service.handle(
                topic, msg.key(), msg.value(), partition=partition, offset=offset
            )
            produce_all(self._producer, records, delivered)
        except Exception:
            # service.handle never raises on input; this is the broker or a bug.
            log.exception("request at %s[%s]@%s could not be handled", topic, partition, offset)
            self._offsets.finished(topic, partition, offset)
        finally:
            self._slots.release()

    def _commit(self) -> None:
        offers = self._offsets.committable()
        if offers:
            positions = [TopicPartition(t, p, o) for (t, p), o in offers.items()]
            try:
                self._consumer.commit(offsets=positions, asynchronous=True)
            except Exception as exc:  # e.g. no longer a member after a rebalance
                log.warning("could not commit request offsets: %s", exc)

    def _log_consumer_error(self, error: KafkaError) -> None:
        # The same broker hiccup repeats every poll: log it once, not a thousand times.
        if str(error) != self._last_error:
            self._last_error = str(error)
            log.warning("request consumer: %s", error)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Finish and commit what we hold before another process takes it over."""
        while self._offsets.in_flight():
            self._producer.poll(0.05)
        self._producer.flush(10)
        offers = self._offsets.committable()
        if offers:
            try:
                consumer.commit(
                    offsets=[TopicPartition(t, p, o) for (t, p), o in offers.items()],
                    asynchronous=False,
                )
            except Exception as exc:
                log.warning("could not commit request offsets on revoke: %s", exc)
        self._offsets.reset()
