"""In-memory stand-ins for Kafka, shipped as library code so unit tests need no broker.

``InMemoryBus`` records what was produced per topic; ``FakeMessage`` looks like a consumed
``confluent_kafka.Message`` for code under test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeMessage:
    _topic: str
    _value: bytes | None
    _key: bytes | None = None
    _partition: int = 0
    _offset: int = 0

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


@dataclass
class InMemoryBus:
    """A producer double: ``produce`` appends, ``messages(topic)`` reads back in order."""

    topics: dict[str, list[FakeMessage]] = field(default_factory=lambda: defaultdict(list))

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        on_delivery: Any = None,
        **_: Any,
    ) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        log = self.topics[topic]
        log.append(FakeMessage(topic, value, raw_key, 0, len(log)))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def messages(self, topic: str) -> list[FakeMessage]:
        return list(self.topics.get(topic, []))
