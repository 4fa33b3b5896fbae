"""The client's one door to the bus: views and workers see these calls, never Kafka.

``Gateway`` is what the workers call (always off the UI thread). ``BusGateway`` is the real
thing over ``bluetrack.bus``; ``bluetrack.client.recorded.RecordedGateway`` replays recorded
protocol messages for unit tests and screenshots. Every bus failure becomes a
``GatewayError`` so the GUI has one thing to word.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal, Protocol, TypeVar, cast

from confluent_kafka import Consumer

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.assign import partitions_of
from bluetrack.bus.charts import ChartFeed
from bluetrack.bus.exceptions import BusError, BusUnavailable, RequestFailed, RequestTimeout
from bluetrack.bus.kafka import make_consumer
from bluetrack.bus.session import Session
from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.config import Settings
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.messages import Account, SessionAuthReply, Shelf, TrackSummary
from bluetrack.protocol.plays import PlayEvent
from bluetrack.protocol.topics import Topic

PlayOperation = Literal["start", "stop", "end"]
PROBE_EVERY_S = 5.0  # how often the chart feed checks the broker is still there
PROBE_TIMEOUT_S = 5.0
T = TypeVar("T")


class SessionHandle(Protocol):
    """What the GUI needs of a session; the secrets inside stay the gateway's business."""

    @property
    def user_id(self) -> str: ...

    @property
    def username(self) -> str: ...

    @property
    def session_id(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...

    def to_json(self) -> str: ...


class ChartSource(Protocol):
    def poll(self, timeout: float) -> ChartMessage | None: ...

    def close(self) -> None: ...


class Gateway(Protocol):
    """Blocking calls; each raises GatewayError instead of hanging past the request timeout."""

    def register(self, username: str, email: str, password: str) -> Account: ...

    def login(self, login: str, password: str) -> SessionHandle: ...

    def validate(self, session: SessionHandle) -> SessionAuthReply: ...

    def logout(self, session: SessionHandle) -> SessionAuthReply: ...

    def songs(self, session: SessionHandle) -> list[Shelf]: ...

    def play(
        self,
        session: SessionHandle,
        operation: PlayOperation,
        track: TrackSummary,
        genre: str,
        start_time: datetime,
        event_time: datetime,
        event_id: str,
    ) -> PlayEvent:
        """Send one play event; ``event_id`` stays the same on a retry, so the server and
        the processor count it once however often it is sent."""
        ...

    def restore_session(self, text: str) -> SessionHandle: ...

    def open_chart_feed(self) -> ChartSource: ...

    def close(self) -> None: ...


@contextmanager
def _translated_failures() -> Iterator[None]:
    """Turn the bus's exceptions into the one GatewayError the GUI words."""
    try:
        yield
    except RequestFailed as exc:
        raise GatewayError(FailureKind.REJECTED, str(exc), exc.info) from exc
    except RequestTimeout as exc:
        raise GatewayError(FailureKind.TIMEOUT, str(exc)) from exc
    except BusError as exc:  # BusUnavailable, ProduceError, ...
        raise GatewayError(FailureKind.UNAVAILABLE, str(exc)) from exc


class BusGateway:
    """The real gateway. The bus client is built lazily, on the worker thread, and rebuilt
    after the broker was unreachable, so the app can start (and recover) while Kafka is down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: BlueTrackClient | None = None

    def _call(self, action: Callable[[BlueTrackClient], T]) -> T:
        with _translated_failures():
            try:
                return action(self._connected())
            except BusUnavailable:
                self.close()  # start afresh next time: the broker may have restarted
                raise

    def _connected(self) -> BlueTrackClient:
        if self._client is None:
            self._client = BlueTrackClient(self._settings)
        return self._client

    def register(self, username: str, email: str, password: str) -> Account:
        return self._call(lambda c: c.register(username, email, password))

    def login(self, login: str, password: str) -> SessionHandle:
        return self._call(lambda c: c.login(login, password))

    def validate(self, session: SessionHandle) -> SessionAuthReply:
        return self._call(lambda c: c.validate(cast(Session, session)))

    def logout(self, session: SessionHandle) -> SessionAuthReply:
        return self._call(lambda c: c.logout(cast(Session, session)))

    def songs(self, session: SessionHandle) -> list[Shelf]:
        return self._call(lambda c: c.songs(cast(Session, session)))

    def play(
        self,
        session: SessionHandle,
        operation: PlayOperation,
        track: TrackSummary,
        genre: str,
        start_time: datetime,
        event_time: datetime,
        event_id: str,
    ) -> PlayEvent:
        def send(client: BlueTrackClient) -> PlayEvent:
            event = client.play(
                cast(Session, session),
                operation,
                track,
                genre=genre,
                start_time=start_time,
                event_time=event_time,
                event_id=event_id,
            )
            # play() only enqueues: wait for the broker, so an outage shows and is retried.
            client.flush(self._settings.request_timeout_s)
            if len(client.requests.producer):
                # Still queued, and it may yet go out: keep the client, let the caller retry
                # (the same event_id makes a second delivery harmless).
                raise GatewayError(FailureKind.UNAVAILABLE, "the play event is not delivered yet")
            return event

        return self._call(send)

    def restore_session(self, text: str) -> SessionHandle:
        return Session.from_json(text)

    def open_chart_feed(self) -> ChartSource:
        with _translated_failures():
            return _GuardedFeed(self._settings)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(BusError):
                client.close()


class _GuardedFeed:
    """A chart feed whose bus failures arrive as GatewayError, like every other call.

    A consumer's poll() stays silent while the broker is down (librdkafka keeps retrying),
    so every ``probe_every_s`` a metadata request checks the broker is still there: that is
    what lets the status line say "can't reach the broker" while the user is just watching.
    """

    def __init__(self, settings: Settings, probe_every_s: float = PROBE_EVERY_S) -> None:
        self._settings = settings
        self._feed = ChartFeed(settings)
        self._probe_every_s = probe_every_s
        self._probe: Consumer | None = None
        self._next_probe = 0.0

    def poll(self, timeout: float) -> ChartMessage | None:
        with _translated_failures():
            self._check_broker()
            return self._feed.poll(timeout)

    def _check_broker(self) -> None:
        if time.monotonic() < self._next_probe:
            return
        if self._probe is None:
            self._probe = make_consumer(self._settings, f"bt-probe-{uuid.uuid4().hex}")
        wait_s = min(PROBE_TIMEOUT_S, self._settings.request_timeout_s)
        partitions_of(self._probe, Topic.TOP_GENRES, wait_s)  # BusUnavailable when away
        self._next_probe = time.monotonic() + self._probe_every_s

    def close(self) -> None:
        self._feed.close()
        if self._probe is not None:
            self._probe.close()
            self._probe = None
