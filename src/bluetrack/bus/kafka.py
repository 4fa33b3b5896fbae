"""Producer and consumer factories with BlueTrack's defaults, and one publish helper."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from bluetrack.bus.exceptions import ProduceError
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.envelope import Message as ProtocolMessage

log = logging.getLogger(__name__)


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    # acks=all + idempotence: a retried send never duplicates or reorders within a partition.
    conf: dict[str, Any] = {
        **settings.kafka_client_config(),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.timeout.ms": 30000,
    }
    conf.update(overrides)
    return conf


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        **settings.kafka_client_config(),
        "group.id": group_id,
        "enable.auto.commit": False,  # commit only after the work a message caused is done
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    conf.update(overrides)
    return conf


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    return Producer(producer_config(settings, **overrides))


# Requests and replies: someone waits for each one. The default 5-ms linger, there to fill
# batches of plays, would add 5 ms on each side of every round trip (half of it on an idle
# machine); under load batches still form, while earlier sends are in flight.
INTERACTIVE = {"linger.ms": 0}


def make_interactive_producer(settings: Settings, **overrides: Any) -> Producer:
    return make_producer(settings, **{**INTERACTIVE, **overrides})


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(settings, group_id, **overrides))


def log_delivery(err: KafkaError | None, msg: Message) -> None:
    if err is not None:
        log.error("delivery to %s failed: %s", msg.topic(), err)


def publish(
    producer: Producer,
    topic: str,
    message: ProtocolMessage,
    key: str | None = None,
    on_delivery: Any = log_delivery,
) -> None:
    """Encode and enqueue; a full local queue is drained once before giving up."""
    value = codec.encode(message)
    try:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
        except BufferError:
            producer.poll(1.0)
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
            except BufferError as exc:
                raise ProduceError("the local producer queue is full", "QUEUE_FULL") from exc
        producer.poll(0)
    except KafkaException as exc:
        raise produce_error(exc) from exc


def produce_error(exc: KafkaException) -> ProduceError:
    """librdkafka's exception as ours, saying whether the producer is lost for good."""
    err = exc.args[0] if exc.args else None
    if not isinstance(err, KafkaError):
        return ProduceError(f"the producer failed: {exc}")
    fatal = err.fatal() or err.code() == KafkaError._FATAL
    return ProduceError(f"the producer failed: {err.str()}", err.name(), fatal=fatal)


def flush(producer: Producer, timeout_s: float = 30.0) -> None:
    remaining = producer.flush(timeout_s)
    if remaining:
        raise ProduceError(f"{remaining} message(s) not delivered within {timeout_s:.0f}s")
