"""What a request caused reaches Kafka before its reply is sent (a logout's play)."""

from __future__ import annotations

from typing import Any

from bluetrack.server.delivery import produce_in_order
from bluetrack.server.outcome import Outgoing


class SlowBroker:
    """A producer double that acknowledges records only when polled, a few polls later."""

    def __init__(self, polls_to_ack: int = 3, fail: bool = False) -> None:
        self.events: list[str] = []
        self._queued: list[tuple[int, Any, str]] = []
        self._polls = 0
        self._polls_to_ack = polls_to_ack
        self._fail = fail

    def produce(self, topic: str, value: bytes, key: Any = None, on_delivery: Any = None) -> None:
        self.events.append(f"produce {topic}")
        self._queued.append((self._polls + self._polls_to_ack, on_delivery, topic))

    def poll(self, timeout: float = 0) -> int:
        self._polls += 1
        due = [q for q in self._queued if q[0] <= self._polls]
        self._queued = [q for q in self._queued if q[0] > self._polls]
        for _, callback, topic in due:
            self.events.append(f"delivered {topic}")
            callback("broker down" if self._fail else None, _Msg(topic))
        return len(due)


class _Msg:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


REPLY = Outgoing("session_auth_response", "client-1", b"{}")
LOGOUT = Outgoing("songs_tracker_accepted", "user-1", b"{}", before_reply=True)


def test_the_reply_is_produced_only_once_the_logout_play_is_delivered() -> None:
    broker, done = SlowBroker(), []
    produce_in_order(broker, [REPLY, LOGOUT], done.append)  # type: ignore[arg-type]
    assert broker.events == [
        "produce songs_tracker_accepted",
        "delivered songs_tracker_accepted",
        "produce session_auth_response",
    ]
    broker.poll(), broker.poll(), broker.poll()
    assert done == [True]


def test_records_with_nothing_ahead_are_produced_at_once() -> None:
    broker, done = SlowBroker(), []
    produce_in_order(broker, [REPLY], done.append)  # type: ignore[arg-type]
    assert broker.events == ["produce session_auth_response"] and done == []


def test_a_failed_or_unconfirmed_play_still_lets_the_reply_go(caplog: Any) -> None:
    failing = SlowBroker(fail=True)
    produce_in_order(failing, [REPLY, LOGOUT], lambda ok: None)  # type: ignore[arg-type]
    assert failing.events[-1] == "produce session_auth_response"
    silent = SlowBroker(polls_to_ack=10**9)
    produce_in_order(silent, [REPLY, LOGOUT], lambda ok: None, timeout_s=0.05)  # type: ignore[arg-type]
    assert silent.events == ["produce songs_tracker_accepted", "produce session_auth_response"]
    assert "unconfirmed" in caplog.text
