"""Counting what the server did with our events: accepted (re-published on
``songs_tracker_accepted``) or refused (a dead letter). Read group-free from the end, so the
count starts with this run and never disturbs a consumer group."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Set
from typing import Protocol

from confluent_kafka import Consumer, Message

from bluetrack.bus.assign import assign_at_end
from bluetrack.bus.kafka import make_consumer
from bluetrack.bus.requests import new_client_id
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import decode_frame
from bluetrack.protocol.topics import Topic
from bluetrack.simulate.progress import Tally

log = logging.getLogger(__name__)


class Outcomes(Protocol):
    """What the runner needs to know of the server's verdicts."""

    def expect(self, event_id: str) -> None: ...

    def settled(self, event_id: str) -> bool: ...

    def close(self) -> None: ...


OutcomesFactory = Callable[[Settings, Tally, Set[str]], Outcomes]


class OutcomeReader:
    """Counts accepted and refused play events of ``users`` into ``tally`` on a thread."""

    def __init__(self, settings: Settings, tally: Tally, users: Set[str]) -> None:
        self._tally = tally
        self._users = users  # grows as listeners sign in; only read here
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._awaited: set[str] = set()  # event ids someone waits for (see ``expect``)
        self._settled: set[str] = set()
        self._consumer: Consumer = make_consumer(settings, f"bt-sim-{new_client_id()}")
        try:
            # Assigned now, before the first event is sent, so none is missed.
            assign_at_end(
                self._consumer,
                [Topic.PLAYS_ACCEPTED, Topic.DEAD_LETTER],
                settings.request_timeout_s,
            )
        except Exception:
            self._consumer.close()
            raise
        self._thread = threading.Thread(target=self._read, name="sim-outcomes", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                self._count(msg)
        self._consumer.close()

    def _count(self, msg: Message) -> None:
        try:
            if msg.topic() == Topic.PLAYS_ACCEPTED:
                for play in decode_frame(msg.value()):
                    # "logout" is the server's own event when a session ends, not one we sent
                    if play.user_id in self._users and play.operation_type != "logout":
                        self._tally.accepted()
                        self._settle(play.event_id)
            else:
                letter = codec.decode(msg.value(), DeadLetter, max_bytes=codec.MAX_REPLY_BYTES)
                if letter.source_topic == Topic.SONGS_TRACKER and letter.key in self._users:
                    self._tally.rejected(letter.code.value)
                    self._settle(_event_id_of(letter))
        except DecodeError as exc:
            log.debug("skipping an unreadable message on %s: %s", msg.topic(), exc)

    def expect(self, event_id: str) -> None:
        """Remember to note when ``event_id`` comes back, for ``settled``."""
        with self._lock:
            self._awaited.add(event_id)

    def settled(self, event_id: str) -> bool:
        """Whether an expected event came back accepted or refused (answered once)."""
        with self._lock:
            if event_id in self._settled:
                self._settled.discard(event_id)
                return True
            return False

    def _settle(self, event_id: str | None) -> None:
        with self._lock:
            if event_id in self._awaited:
                self._awaited.discard(event_id)
                self._settled.add(event_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _event_id_of(letter: DeadLetter) -> str | None:
    """The refused event's id, from the payload the dead letter kept."""
    try:
        event_id = json.loads(letter.payload).get("event_id")
    except (ValueError, AttributeError):
        return None
    return event_id if isinstance(event_id, str) else None
