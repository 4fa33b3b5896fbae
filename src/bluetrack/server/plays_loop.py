"""The plays consumer: big batches in, frames of accepted plays and dead letters out, then commit.

Runs on its own thread and consumer, so a burst of plays never queues behind logins. Each
batch is verified, produced (accepted plays as frames, one partition each), flushed
(delivery confirmed) and only then committed; its history entries go to the
``HistoryWriter``, which writes them behind. If producing fails, the batch's ids are
forgotten by the replay guard and the consumer seeks back, so the batch is verified again
rather than lost.

An idempotent producer can fail for good (a *fatal* error, e.g. after a broker crash left
its sequence numbers out of step): every later send fails at once. Requests have their own
producer and keep working, so this looked like "plays stop after a broker kill" (issue 5).
On a fatal error the loop starts a new producer (a new producer id) and carries on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from bluetrack.protocol.topics import Topic
from bluetrack.server.delivery import produce, produce_to
from bluetrack.server.exceptions import STORE_DOWN
from bluetrack.server.history_writer import HistoryWriter
from bluetrack.server.plays import PlayBatch, PlayVerifier, accepted_frames

log = logging.getLogger(__name__)

BATCH_MAX = 5000
BATCH_WAIT_S = 0.05
RETRY_BACKOFF_S = 1.0
METADATA_TIMEOUT_S = 10.0


class DeliveryFailed(Exception):
    """Some records of a batch were not delivered (the batch will be verified again)."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal  # the producer is unusable from now on


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
        new_producer: Callable[[], Producer] | None = None,
    ) -> None:
        self.verifier = verifier
        self._consumer = consumer
        self._producer = producer
        self._new_producer = new_producer
        self.producers_replaced = 0
        self._history = history
        self._stop = stop
        self._flush_timeout_s = flush_timeout_s
        self._accepted_partitions: int | None = None  # read from metadata when needed
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
            elif isinstance(exc, DeliveryFailed | KafkaException):
                log.warning("%s; %d plays will be verified again", exc, len(messages))
            else:
                log.exception(
                    "a batch of %d plays failed; it will be verified again", len(messages)
                )
            self._accepted_partitions = None  # the topic may have changed: read it again
            if _fatal(exc):
                self._replace_producer(exc)
            if batch is not None:
                self.verifier.seen.forget(batch.accepted_ids)
            self._rewind(messages)
            self._stop.wait(RETRY_BACKOFF_S)
            return
        self._history.put(batch.history)
        self.accepted += batch.accepted
        self.rejected += batch.rejected
        self._commit(messages)

    def _replace_producer(self, why: Exception) -> None:
        if self._new_producer is None:
            log.error("the plays producer failed for good (%s) and cannot be replaced", why)
            return
        log.error("the plays producer failed for good (%s); starting a new one", why)
        self._producer = self._new_producer()
        self.producers_replaced += 1

    def _deliver(self, batch: PlayBatch) -> None:
        failures: list[KafkaError] = []

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                failures.append(err)

        for record in batch.outgoing:
            produce(self._producer, record, on_delivery)
        if batch.accepted:
            # No key: a frame holds many users' plays; the partition we choose keeps each
            # user's plays together and in order (see plays.partition_of).
            topic = str(Topic.PLAYS_ACCEPTED)
            for frame in accepted_frames(batch.accepted_table(), self._partitions(topic)):
                produce_to(self._producer, topic, frame.partition, frame.value, on_delivery)
        remaining = self._producer.flush(self._flush_timeout_s)
        if remaining or failures:
            first = failures[0] if failures else "timed out"
            raise DeliveryFailed(
                f"{remaining + len(failures)} record(s) not delivered: {first}",
                fatal=any(_fatal_error(err) for err in failures),
            )

    def _partitions(self, topic: str) -> int:
        """The accepted topic's partition count, read once (and again after a failure)."""
        if self._accepted_partitions is None:
            metadata = self._producer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                why = found.error if found is not None else "no metadata"
                raise DeliveryFailed(f"no partitions known for {topic}: {why}")
            self._accepted_partitions = len(found.partitions)
        return self._accepted_partitions

    def _commit(self, messages: Sequence[Any]) -> None:
        """Commit exactly what this batch delivered (not the consumer's stored positions,
        which a failed batch before may have moved past undelivered plays)."""
        try:
            self._consumer.commit(offsets=_next_offsets(messages), asynchronous=True)
        except Exception as exc:
            log.warning("could not commit play offsets: %s", exc)

    def _rewind(self, messages: Sequence[Any]) -> None:
        for (topic, partition), offset in _first_offsets(messages).items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except Exception as exc:  # revoked meanwhile: its new owner starts from the commit
                log.warning("could not rewind %s[%d]: %s", topic, partition, exc)


def _fatal(exc: Exception) -> bool:
    if isinstance(exc, DeliveryFailed):
        return exc.fatal
    return isinstance(exc, KafkaException) and _fatal_error(exc.args[0] if exc.args else None)


def _fatal_error(err: Any) -> bool:
    return isinstance(err, KafkaError) and (err.fatal() or err.code() == KafkaError._FATAL)


def _first_offsets(messages: Sequence[Any]) -> dict[tuple[str, int], int]:
    return _offsets(messages, min, 0)


def _next_offsets(messages: Sequence[Any]) -> list[TopicPartition]:
    return [TopicPartition(t, p, o) for (t, p), o in _offsets(messages, max, 1).items()]


def _offsets(
    messages: Sequence[Any], pick: Callable[[int, int], int], plus: int
) -> dict[tuple[str, int], int]:
    found: dict[tuple[str, int], int] = {}
    for msg in messages:
        key, offset = (msg.topic(), msg.partition()), msg.offset() + plus
        found[key] = pick(found.get(key, offset), offset)
    return found
