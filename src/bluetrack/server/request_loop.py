"""The request consumer: requests handled concurrently, offsets committed in order.

bcrypt at cost 12 takes ~250 ms, so requests run in worker pools (bcrypt releases the GIL),
one lane for password hashing and one for everything else (``lanes``): a burst of logins
never delays a songs_update. The loop thread only polls, hands out work, pauses a full
lane's topics, serves delivery callbacks and commits what is finished.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from bluetrack.protocol.registry import EXCHANGES
from bluetrack.server.delivery import produce_in_order
from bluetrack.server.lanes import Lane, Lanes
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
        self._lanes = Lanes.for_workers(workers)
        self._pools = {
            lane.name: ThreadPoolExecutor(lane.workers, thread_name_prefix=f"{lane.name}-request")
            for lane in (self._lanes.slow, self._lanes.fast)
        }
        self._offsets = OffsetTracker()
        self._last_error = ""
        self.handled = 0
        self.assigned = threading.Event()  # set once the group gave us partitions

    def run(self) -> None:
        self._consumer.subscribe(
            REQUEST_TOPICS, on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not self._stop.is_set():
                self._poll_once()
        finally:
            for pool in self._pools.values():
                pool.shutdown(wait=True)
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
        self._apply_backpressure()
        self._producer.poll(0)
        self._commit()

    def _dispatch(self, msg: Any) -> None:
        if msg.error() is not None:
            self._log_consumer_error(msg.error())
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        lane = self._lanes.route(topic)
        self._lanes.started(lane)
        self._offsets.started(topic, partition, offset)
        self._pools[lane.name].submit(self._handle, msg, lane, topic, partition, offset)

    def _handle(self, msg: Any, lane: Lane, topic: str, partition: int, offset: int) -> None:
        def delivered(ok: bool) -> None:
            # A reply that cannot be delivered is logged by the countdown; re-handling the
            # request would not help a client that has long timed out.
            self._offsets.finished(topic, partition, offset)
            self.handled += 1

        try:
            records = self._service.handle(
                topic, msg.key(), msg.value(), partition=partition, offset=offset
            )
            produce_in_order(self._producer, records, delivered)
        except Exception:
            # service.handle never raises on input; this is the broker or a bug.
            log.exception("request at %s[%s]@%s could not be handled", topic, partition, offset)
            self._offsets.finished(topic, partition, offset)
        finally:
            self._lanes.finished(lane)

    def _apply_backpressure(self) -> None:
        """Full lane: stop fetching its topics (the work waits in Kafka, not in memory)."""
        for lane in self._lanes.to_pause():
            self._consumer.pause(self._partitions_of(lane))
        for lane in self._lanes.to_resume():
            self._consumer.resume(self._partitions_of(lane))

    def _partitions_of(self, lane: Lane) -> list[TopicPartition]:
        return [tp for tp in self._consumer.assignment() if self._lanes.route(tp.topic) is lane]

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

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._lanes.forget_pauses()
        self.assigned.set()

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
