"""The plays consumer: big batches in, accepted plays and dead letters out, then commit.

Runs on its own thread and consumer, so a burst of plays never queues behind logins. Each
batch is verified, produced, flushed (delivery confirmed) and only then committed; its
history entries go to the ``HistoryWriter``, which writes them behind. If producing fails,
the batch's ids are forgotten by the replay guard and the consumer seeks back, so the batch
is verified again rather than lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from bluetrack.protocol.topics import Topic
from bluetrack.server.delivery import produce
from bluetrack.server.exceptions import STORE_DOWN
from bluetrack.server.history_writer import HistoryWriter
from bluetrack.server.plays import PlayBatch, PlayVerifier

log = logging.getLogger(__name__)

BATCH_MAX = 5000
BATCH_WAIT_S = 0.05
RETRY_BACKOFF_S = 1.0


class PlaysLoop:
    def __init__(
        self,
        verifier: PlayVerifier,
        consumer: Consumer,
        producer: Producer,
        history: HistoryWriter,
        *,
        stop: threading.Event,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self.verifier = verifier
        self._consumer = consumer
        self._producer = producer
        self._history = history
        self._stop = stop
        self._flush_timeout_s = flush_timeout_s
        self.accepted = 0
        self.rejected = 0
        self.assigned = threading.Event()  # set once the group gave us partitions

    def run(self) -> None:
        self._consumer.subscribe(
            [str(Topic.SONGS_TRACKER)], on_assign=lambda *_: self.assigned.set()
        )
        try:
            while not self._stop.is_set():
                messages = self._consumer.consume(BATCH_MAX, BATCH_WAIT_S)
                good = [m for m in messages if m.error() is None]
                for bad in (m for m in messages if m.error() is not None):
                    log.warning("plays consumer: %s", bad.error())
                if good:
                    self._process(good)
        finally:
            self._consumer.close()

    def _process(self, messages: Sequence[Any]) -> None:
        batch: PlayBatch | None = None
        try:
            batch = self.verifier.verify_batch(messages)
            self._deliver(batch)
        except Exception as exc:
            if isinstance(exc, STORE_DOWN):
                log.warning("store unavailable; %d plays will be verified again", len(messages))
            else:
                log.exception(
                    "a batch of %d plays failed; it will be verified again", len(messages)
                )
            if batch is not None:
                self.verifier.seen.forget(batch.accepted_ids)
            self._rewind(messages)
            self._stop.wait(RETRY_BACKOFF_S)
            return
        self._history.put(batch.history)
        self.accepted += batch.accepted
        self.rejected += batch.rejected
        try:
            self._consumer.commit(asynchronous=True)
        except Exception as exc:
            log.warning("could not commit play offsets: %s", exc)

    def _deliver(self, batch: PlayBatch) -> None:
        failures: list[str] = []

        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for record in batch.outgoing:
            produce(self._producer, record, on_delivery)
        remaining = self._producer.flush(self._flush_timeout_s)
        if remaining or failures:
            first = failures[0] if failures else "timed out"
            raise RuntimeError(f"{remaining + len(failures)} record(s) not delivered: {first}")

    def _rewind(self, messages: Sequence[Any]) -> None:
        first: dict[tuple[str, int], int] = {}
        for msg in messages:
            key = (msg.topic(), msg.partition())
            first[key] = min(first.get(key, msg.offset()), msg.offset())
        for (topic, partition), offset in first.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except Exception as exc:  # revoked meanwhile: its new owner starts from the commit
                log.warning("could not rewind %s[%d]: %s", topic, partition, exc)
