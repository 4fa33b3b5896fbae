"""Request/reply over Kafka: send on the request topic, wait for the reply keyed by our id."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bluetrack.bus.assign import assign_at_end, key_partition, partitions_of
from bluetrack.bus.exceptions import BusUnavailable, ProduceError, RequestTimeout
from bluetrack.bus.kafka import make_consumer, make_interactive_producer, publish
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.envelope import Message as ProtocolMessage
from bluetrack.protocol.envelope import Reply, Request
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.registry import BY_REPLY_TOPIC, BY_REQUEST_MODEL, REPLY_TOPICS
from bluetrack.protocol.topics import Topic

log = logging.getLogger(__name__)

GROWTH_CHECK_S = 30.0  # how often the listener looks for reply topics that grew


def new_client_id() -> str:
    return "c" + uuid.uuid4().hex


class RequestClient:
    """One producer and one group-free reply listener, shared by all calls of a client."""

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        self.settings = settings
        self.client_id = client_id or new_client_id()
        self._producer: Producer = make_interactive_producer(settings)
        self._pending: dict[str, Future[Reply]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._reply_partitions: dict[str, set[int]] = {}  # what the listener reads

    @property
    def producer(self) -> Producer:
        return self._producer

    def publish(self, topic: str, message: ProtocolMessage, key: str | None = None) -> None:
        """Send with this client's producer; one lost for good is replaced, then sent again.

        Without this, a fatal producer error (an idempotent producer out of step after a
        broker crash) would fail every later request and play of this client for ever.
        """
        try:
            publish(self._producer, topic, message, key=key)
        except ProduceError as exc:
            if not exc.fatal:
                raise
            log.warning("the client's producer failed for good (%s); starting a new one", exc)
            self._producer = make_interactive_producer(self.settings)
            publish(self._producer, topic, message, key=key)

    def _ensure_listening(self) -> None:
        """Start the listener lazily, so a client can start while the broker is down."""
        with self._lock:
            if self._listener is not None:
                return
            consumer = make_consumer(
                self.settings, f"bt-replies-{self.client_id}", **{"fetch.wait.max.ms": 50}
            )
            try:
                # Only our partition of each reply topic: replies are keyed by client id.
                counts = assign_at_end(
                    consumer,
                    REPLY_TOPICS,
                    timeout_s=self.settings.request_timeout_s,
                    key=self.client_id,
                )
            except BusUnavailable:
                consumer.close()
                raise
            self._reply_partitions = {
                topic: {key_partition(self.client_id, count)} for topic, count in counts.items()
            }
            self._consumer = consumer
            self._listener = threading.Thread(
                target=self._listen, name=f"replies-{self.client_id}", daemon=True
            )
            self._listener.start()

    def _listen(self) -> None:
        assert self._consumer is not None
        next_check = time.monotonic() + GROWTH_CHECK_S
        while not self._stop.is_set():
            msg = self._consumer.poll(0.1)
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + GROWTH_CHECK_S
                self.follow_growth()
            if msg is None or msg.error() is not None:
                continue
            if msg.key() != self.client_id.encode():
                continue  # someone else's reply (its secrets are sealed to them anyway)
            self._resolve(Topic(msg.topic() or ""), msg.value())

    def follow_growth(self, timeout_s: float = 5.0) -> list[TopicPartition]:
        """Also read, from its start, the partition our id hashes to on a reply topic that
        grew, and keep the old one: a server whose producer has not yet seen the new count
        still sends there. Returns what was added."""
        assert self._consumer is not None
        added: list[TopicPartition] = []
        for topic, reading in self._reply_partitions.items():
            try:
                count = len(partitions_of(self._consumer, topic, timeout_s))
            except BusUnavailable:
                return added  # the broker is away: the next check will do
            partition = key_partition(self.client_id, count)
            if partition not in reading:
                reading.add(partition)
                added.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        if added:
            log.info("reply topics grew: now also reading %s", added)
            self._consumer.incremental_assign(added)
        return added

    def _resolve(self, topic: Topic, raw: bytes | None) -> None:
        model = BY_REPLY_TOPIC[topic].reply_model
        try:
            reply = codec.decode(raw, model, max_bytes=codec.MAX_REPLY_BYTES)
        except DecodeError as exc:
            log.warning("ignoring an unreadable reply on %s: %s", topic, exc)
            return
        with self._lock:
            future = self._pending.pop(reply.request_id, None)
        if future is not None and reply.client_id == self.client_id:
            future.set_result(reply)

    def submit(self, request: Request) -> Future[Reply]:
        if request.client_id != self.client_id:
            raise ValueError("request.client_id must be this client's id")
        self._ensure_listening()
        future: Future[Reply] = Future()
        with self._lock:
            self._pending[request.request_id] = future
        exchange = BY_REQUEST_MODEL[type(request)]
        self.publish(exchange.request_topic, request, key=self.client_id)
        return future

    def call(self, request: Request, timeout_s: float | None = None) -> Reply:
        timeout = timeout_s if timeout_s is not None else self.settings.request_timeout_s
        future = self.submit(request)
        self._producer.flush(min(timeout, 5.0))
        try:
            return future.result(timeout)
        except FutureTimeout as exc:
            with self._lock:
                self._pending.pop(request.request_id, None)
            raise RequestTimeout(
                f"no reply to {request.type} within {timeout:.0f}s: is the server running?"
            ) from exc

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
        if self._consumer is not None:
            self._consumer.close()
        self._producer.flush(5)
