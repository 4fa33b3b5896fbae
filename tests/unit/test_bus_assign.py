"""Group-free assignment waits out a broker that drops connections, within its timeout."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from bluetrack.bus import assign
from bluetrack.bus.exceptions import BusUnavailable


class FlakyConsumer:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def list_topics(self, topic: str, timeout: float) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker transport failure"))
        info = SimpleNamespace(error=None, partitions={0: None, 2: None, 1: None})
        return SimpleNamespace(topics={topic: info})


def test_a_transport_error_is_retried_until_the_broker_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(assign, "RETRY_S", 0.01)
    consumer = FlakyConsumer(failures=3)
    assert assign.partitions_of(consumer, "plays", timeout_s=5.0) == [0, 1, 2]  # type: ignore[arg-type]
    assert consumer.calls == 4


def test_a_broker_that_stays_away_is_unavailable_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(assign, "RETRY_S", 0.01)
    with pytest.raises(BusUnavailable, match="not reachable"):
        assign.partitions_of(FlakyConsumer(failures=10_000), "plays", timeout_s=0.2)  # type: ignore[arg-type]
