"""Running virtual listeners against the real system.

Listeners join at ``rate`` per second, sign in through the protocol on a small pool of
threads, ask the server for songs and plan their session with ``model.plan_session``. One
scheduler loop (the caller's thread) then sends every planned event when it falls due through
``BlueTrackClient.play``, the GUI's own path, stamped with the wall clock. A listener whose
plan is done logs out; so does everyone, with their play stopped, when the run is stopped.

Listeners share clients in groups of ``register_per_client_per_minute``: the server allows
that many registrations per client at once, and a few clients (one producer and one reply
reader each) keep the broker's load to what the events themselves cause.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.exceptions import BusUnavailable, RequestTimeout
from bluetrack.bus.keys import fetch_server_key
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.errors import BlueTrackError
from bluetrack.protocol.envelope import new_id, utc_now
from bluetrack.simulate.accounts import Credentials, SessionCache, credentials_for, sign_in
from bluetrack.simulate.exceptions import SimulationError
from bluetrack.simulate.model import Behaviour, PlannedEvent, session_events
from bluetrack.simulate.outcomes import OutcomeReader, Outcomes, OutcomesFactory
from bluetrack.simulate.progress import Display, Snapshot, Tally

log = logging.getLogger(__name__)

TICK_S = 0.25  # the loop wakes at least this often to refresh the display and check for stop
DEPART_WAIT_S = 10.0  # longest wait for the server to take a listener's last event


@dataclass(frozen=True, slots=True)
class RunConfig:
    listeners: int = 10
    rate: float = 5.0  # listeners joining per second (the ramp-up)
    duration_s: float = 60.0  # each listener's plan ends this long after the run began
    seed: int = 0
    speed: float = 1.0  # > 1 compresses plays (see simulate.model)
    sessions_file: Path | None = None  # reuse sessions across runs (and keep them: no logout)
    behaviour: Behaviour = field(default_factory=Behaviour)
    sign_in_workers: int = 8
    settle_s: float = 20.0  # how long to wait for the outcome of the last events

    def __post_init__(self) -> None:
        if self.listeners < 1 or self.rate <= 0 or self.duration_s <= 0 or self.speed <= 0:
            raise ValueError("listeners, rate, duration and speed must be positive")
        if self.seed < 0:
            raise ValueError("the seed must not be negative")

    def joined_at_s(self, listener: int) -> float:
        return listener / self.rate


@dataclass(eq=False, slots=True)
class _Listener:
    number: int
    who: Credentials
    client: BlueTrackClient
    session: Session | None = None
    upcoming: Iterator[PlannedEvent] = field(default_factory=lambda: iter(()))
    ready: float = 0.0  # monotonic time the plan's offsets count from
    active: bool = False  # has planned events still to send
    playing: PlannedEvent | None = None  # the start of the play under way
    started: dict[int, datetime] = field(default_factory=dict)  # play number -> start_time
    leaving: bool = False


@dataclass(frozen=True, slots=True)
class _Departure:
    listener: _Listener
    last_event_id: str | None
    deadline: float


class Simulation:
    def __init__(
        self,
        settings: Settings,
        config: RunConfig,
        tally: Tally | None = None,
        *,
        client_factory: Callable[[Settings], BlueTrackClient] = BlueTrackClient,
        outcomes_factory: OutcomesFactory = OutcomeReader,
        preflight: Callable[[Settings], object] = fetch_server_key,
    ) -> None:
        self.settings = settings
        self.config = config
        self.tally = tally or Tally(config.listeners)
        self._cache = SessionCache(config.sessions_file)
        self._outcomes_factory, self._preflight = outcomes_factory, preflight
        group = max(1, settings.register_per_client_per_minute)
        self._clients = [
            client_factory(settings) for _ in range(math.ceil(config.listeners / group))
        ]
        self._listeners = [
            _Listener(i, credentials_for(config.seed, i), self._clients[i // group])
            for i in range(config.listeners)
        ]
        self.users: set[str] = set()  # user ids of our listeners, for counting outcomes
        self._due: list[tuple[float, int, _Listener, PlannedEvent]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._remaining = config.listeners
        self._stopping = False
        self._fatal: BlueTrackError | None = None
        self._departing: list[_Departure] = []  # touched by the scheduler thread only
        self._outcome_reader: Outcomes | None = None
        self._joins: list[Future[None]] = []
        self._pool = ThreadPoolExecutor(config.sign_in_workers, thread_name_prefix="sim-listener")

    # --- the run ---------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, display: Display | None = None) -> Snapshot:
        """Run to the end of every listener's plan, or until ``stop`` is set; the final tally."""
        stop = stop or threading.Event()
        self._preflight(self.settings)  # fail fast, with a clear message, if no server
        self._outcome_reader = self._outcomes_factory(self.settings, self.tally, self.users)
        try:
            self._schedule(stop, display)
        finally:
            self._wind_down()
            self._settle(display)
            self._outcome_reader.close()
            for client in self._clients:
                client.close()
            self._cache.save()
        if self._fatal is not None:
            raise SimulationError(f"no listener could sign in: {self._fatal}") from self._fatal
        return self.tally.snapshot()

    def _schedule(self, stop: threading.Event, display: Display | None) -> None:
        began = time.monotonic()
        joining = deque(self._listeners)
        while self._remaining > 0 and not stop.is_set() and self._fatal is None:
            elapsed = time.monotonic() - began
            while joining and self.config.joined_at_s(joining[0].number) <= elapsed:
                self._joins.append(self._pool.submit(self._join, joining.popleft()))
            self._send_due()
            self._release_departures()
            if display is not None:
                display.refresh()
            next_join = began + self.config.joined_at_s(joining[0].number) if joining else math.inf
            self._sleep_until(next_join)

    def _sleep_until(self, next_join: float) -> None:
        with self._wake:
            next_event = self._due[0][0] if self._due else math.inf
            wait = min(next_join, next_event) - time.monotonic()
            if wait > 0:
                self._wake.wait(min(wait, TICK_S))

    # --- one listener's life ---------------------------------------------------------------
    def _join(self, listener: _Listener) -> None:
        try:
            listener.session, shelves = sign_in(listener.client, listener.who, self._cache)
        except BlueTrackError as exc:
            self._failed(listener, exc)
            return
        self.users.add(listener.session.user_id)
        self.tally.joined()
        joined_at_s = self.config.joined_at_s(listener.number)
        upcoming = session_events(
            self.config.seed,
            listener.number,
            shelves,
            max(0.0, self.config.duration_s - joined_at_s),
            speed=self.config.speed,
            joined_at_s=joined_at_s,
            behaviour=self.config.behaviour,
        )
        first = next(upcoming, None)
        with self._wake:  # decided with the push, so a stop cannot fall in between
            scheduled = first is not None and not self._stopping
            if first is not None and scheduled:
                listener.upcoming, listener.active = upcoming, True
                listener.ready = time.monotonic()
                self._push(listener, first)  # the lock is re-entrant
        if not scheduled:  # nothing to play, or the run is over
            self._leave(listener)

    def _push(self, listener: _Listener, event: PlannedEvent) -> None:
        """Queue a listener's next event (only the next: plans are pulled as they go)."""
        with self._wake:
            if not self._stopping:
                entry = (listener.ready + event.at_s, next(self._order), listener, event)
                heapq.heappush(self._due, entry)
                self._wake.notify()

    def _failed(self, listener: _Listener, exc: BlueTrackError) -> None:
        log.warning("listener %s could not sign in: %s", listener.who.username, exc)
        self.tally.failed()
        nobody_in = self.tally.snapshot().joined == 0
        if nobody_in and isinstance(exc, BusUnavailable | RequestTimeout):
            self._fatal = exc  # the server or broker is not there: stop instead of waiting
        self._finished()

    def _send_due(self) -> None:
        now = time.monotonic()
        with self._wake:
            due = []
            while self._due and self._due[0][0] <= now:
                due.append(heapq.heappop(self._due))
        for _, _, listener, event in due:
            following = next(listener.upcoming, None)
            self._send(listener, event, last=following is None)
            if following is not None:
                self._push(listener, following)

    def _send(self, listener: _Listener, event: PlannedEvent, *, last: bool) -> None:
        assert listener.session is not None
        now, event_id = utc_now(), new_id()
        if event.operation == "start":
            listener.started[event.play] = now
            listener.playing = event
        elif event.operation in ("stop", "end"):
            listener.playing = None
        if last:  # log out once the server has taken it: the GUI's race, not repeated here
            self._outcomes().expect(event_id)
            self._depart(listener, event_id)
        try:
            listener.client.play(
                listener.session,
                event.operation,
                event.track,
                genre=event.genre,
                start_time=listener.started[event.play],
                event_time=now,
                event_id=event_id,
            )
        except BlueTrackError as exc:
            log.warning("could not send a play event: %s", exc)
            return
        self.tally.sent()

    def _depart(self, listener: _Listener, last_event_id: str | None) -> None:
        listener.active = False
        deadline = time.monotonic() + DEPART_WAIT_S
        self._departing.append(_Departure(listener, last_event_id, deadline))

    def _release_departures(self) -> None:
        """Listeners whose last event the server has handled (or who waited enough) leave."""
        now, waiting = time.monotonic(), []
        outcomes = self._outcomes()
        for d in self._departing:
            if d.last_event_id is None or now >= d.deadline or outcomes.settled(d.last_event_id):
                self._pool.submit(self._leave, d.listener)
            else:
                waiting.append(d)
        self._departing = waiting

    def _outcomes(self) -> Outcomes:
        assert self._outcome_reader is not None, "only while running"
        return self._outcome_reader

    def _leave(self, listener: _Listener) -> None:
        """Log out, unless the sessions are kept for the next run."""
        with self._wake:
            if listener.leaving:
                return
            listener.leaving = True
        if listener.session is not None and not self._cache.enabled:
            try:
                listener.client.logout(listener.session)
            except BlueTrackError as exc:
                log.warning("listener %s could not log out: %s", listener.who.username, exc)
        self.tally.finished()
        self._finished()

    def _finished(self) -> None:
        with self._wake:
            self._remaining -= 1
            self._wake.notify()

    # --- the end ---------------------------------------------------------------------------
    def _wind_down(self) -> None:
        """Stop the plays still under way, log everyone out and wait for it."""
        with self._wake:
            self._stopping = True
            self._due.clear()
        for join in self._joins:
            join.cancel()  # listeners still queued to join never will
        for listener in self._listeners:
            if not listener.active:
                continue  # never in, or already departing
            if listener.playing is not None:
                self._send(listener, _stop_of(listener.playing), last=True)
            else:
                self._depart(listener, None)
        while self._departing:
            self._release_departures()
            time.sleep(TICK_S / 5)
        self._pool.shutdown(wait=True)
        for client in self._clients:
            client.flush()

    def _settle(self, display: Display | None) -> None:
        """Wait (a while) until every event sent has come back accepted or refused."""
        deadline = time.monotonic() + self.config.settle_s
        while not self.tally.snapshot().settled and time.monotonic() < deadline:
            if display is not None:
                display.refresh()
            time.sleep(TICK_S)


def _stop_of(start: PlannedEvent) -> PlannedEvent:
    return PlannedEvent(start.at_s, "stop", start.genre, start.track, start.play)
