"""The dead-letter sink: every refused input goes here with its reason, never silently."""

from __future__ import annotations

import base64
import logging

from confluent_kafka import Message, Producer

from bluetrack.bus.kafka import publish
from bluetrack.protocol.dead_letter import MAX_DEAD_PAYLOAD, DeadLetter
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.topics import Topic

log = logging.getLogger(__name__)


def _printable(raw: bytes | None) -> str:
    if raw is None:
        return ""
    head = raw[:MAX_DEAD_PAYLOAD]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(head[: MAX_DEAD_PAYLOAD * 3 // 4]).decode()


def _key_text(key: bytes | str | None) -> str | None:
    if key is None:
        return None
    text = key if isinstance(key, str) else key.decode("utf-8", "replace")
    return text[:512]


def dead_letter_for(
    component: str,
    source_topic: str,
    raw: bytes | None,
    code: ErrorCode,
    reason: str,
    *,
    partition: int | None = None,
    offset: int | None = None,
    key: bytes | str | None = None,
) -> DeadLetter:
    return DeadLetter(
        component=component,
        source_topic=source_topic[:256],
        partition=partition,
        offset=offset,
        key=_key_text(key),
        code=code,
        reason=reason[:1000],
        payload=_printable(raw),
        payload_bytes=len(raw or b""),
        at=utc_now(),
    )


class DeadLetterSink:
    def __init__(self, producer: Producer, component: str) -> None:
        self._producer = producer
        self._component = component
        self.count = 0

    def send(self, letter: DeadLetter) -> None:
        self.count += 1
        log.warning(
            "dead letter from %s: %s (%s)", letter.source_topic, letter.code.value, letter.reason
        )
        publish(self._producer, Topic.DEAD_LETTER, letter, key=letter.source_topic)

    def refuse(self, msg: Message, code: ErrorCode, reason: str) -> None:
        """Dead-letter a consumed Kafka message."""
        self.send(
            dead_letter_for(
                self._component,
                msg.topic() or "?",
                msg.value(),
                code,
                reason,
                partition=msg.partition(),
                offset=msg.offset(),
                key=msg.key(),
            )
        )
