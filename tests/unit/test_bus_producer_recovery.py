"""A client's producer that fails for good is replaced, so its plays and requests go on."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from bluetrack.bus import requests as requests_module
from bluetrack.bus.exceptions import ProduceError
from bluetrack.bus.kafka import produce_error
from bluetrack.bus.requests import RequestClient
from bluetrack.config import Settings
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode


class FakeProducer:
    def __init__(self, error: KafkaError | None = None) -> None:
        self.error = error
        self.sent: list[tuple[str, bytes]] = []

    def produce(self, topic: str, value: bytes, key: Any = None, on_delivery: Any = None) -> None:
        if self.error is not None:
            raise KafkaException(self.error)
        self.sent.append((topic, value))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def _message() -> DeadLetter:
    return DeadLetter(
        component="test",
        source_topic="songs_tracker",
        payload="x",
        payload_bytes=1,
        code=ErrorCode.INVALID_MESSAGE,
        reason="a test",
        at=utc_now(),
    )


def _client(monkeypatch: pytest.MonkeyPatch, *producers: FakeProducer) -> RequestClient:
    made = iter(producers)
    monkeypatch.setattr(requests_module, "make_interactive_producer", lambda _settings: next(made))
    return RequestClient(Settings())


def test_a_fatal_error_replaces_the_producer_and_the_message_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lost = FakeProducer(KafkaError(KafkaError._FATAL, "out of sequence", fatal=True))
    fresh = FakeProducer()
    client = _client(monkeypatch, lost, fresh)
    client.publish("dead_letter", _message(), key="k")
    assert client.producer is fresh
    assert [topic for topic, _ in fresh.sent] == ["dead_letter"]


def test_an_error_that_is_not_fatal_is_raised_and_the_producer_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = FakeProducer(KafkaError(KafkaError._MSG_TIMED_OUT, "timed out"))
    client = _client(monkeypatch, busy)
    with pytest.raises(ProduceError) as raised:
        client.publish("dead_letter", _message())
    assert not raised.value.fatal and raised.value.code == "_MSG_TIMED_OUT"
    assert client.producer is busy


def test_librdkafka_errors_become_ours() -> None:
    fatal = produce_error(KafkaException(KafkaError(KafkaError._FATAL, "x", fatal=True)))
    assert fatal.fatal and "the producer failed" in str(fatal)
    assert not produce_error(KafkaException("no error object")).fatal
