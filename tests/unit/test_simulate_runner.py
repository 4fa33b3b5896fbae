"""The runner over a fake client: plans sent in order, one play at a time, logout, stop, cache."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bluetrack.bus.exceptions import RequestFailed, RequestTimeout
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode, ErrorInfo
from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.simulate.exceptions import SimulationError
from bluetrack.simulate.model import Behaviour, plan_session
from bluetrack.simulate.progress import Tally
from bluetrack.simulate.runner import RunConfig, Simulation

GENRES = ("rock", "pop", "jazz", "folk")
SHELVES = [
    Shelf(
        genre=g,
        tracks=[
            TrackSummary(
                track_id=f"{g}-{i}",
                name="x",
                artists=["y"],
                album="z",
                duration_ms=4_000 + 1_000 * i,  # short tracks: plays end within the test
                genres=[g],
            )
            for i in range(5)
        ],
    )
    for g in GENRES
]
SETTINGS = Settings(register_per_client_per_minute=2)


@dataclass(frozen=True)
class Sent:
    user_id: str
    operation: str
    track_id: str
    genre: str
    start_time: datetime
    event_time: datetime


class World:
    """What the fake server saw, shared by every fake client of a run."""

    def __init__(self, *, unreachable: bool = False) -> None:
        self.unreachable = unreachable
        self.lock = threading.Lock()
        self.accounts: set[str] = set()
        self.logins: list[str] = []
        self.plays: dict[str, list[Sent]] = defaultdict(list)
        self.logouts: dict[str, int] = {}  # user -> plays seen before the logout
        self.clients = 0


class FakeClient:
    def __init__(self, world: World) -> None:
        self.world = world
        with world.lock:
            world.clients += 1

    def register(self, username: str, email: str, password: str) -> None:
        if self.world.unreachable:
            raise RequestTimeout("no reply to register_user within 10s")
        with self.world.lock:
            if username in self.world.accounts:
                raise RequestFailed(ErrorInfo(code=ErrorCode.USERNAME_TAKEN, message="taken"))
            self.world.accounts.add(username)

    def login(self, login: str, password: str) -> Session:
        with self.world.lock:
            self.world.logins.append(login)
        return Session(login, login, f"s-{login}", b"t" * 32, b"k" * 32, utc_now() + timedelta(1))

    def songs(self, session: Session) -> list[Shelf]:
        return SHELVES

    def play(self, session: Session, operation: str, track: TrackSummary, **kw: Any) -> None:
        sent = Sent(
            session.user_id,
            operation,
            track.track_id,
            kw["genre"],
            kw["start_time"],
            kw["event_time"],
        )
        with self.world.lock:
            assert session.user_id not in self.world.logouts, "a play after the logout"
            self.world.plays[session.user_id].append(sent)

    def logout(self, session: Session) -> None:
        with self.world.lock:
            self.world.logouts[session.user_id] = len(self.world.plays[session.user_id])

    def flush(self, timeout_s: float = 10.0) -> None:
        pass

    def close(self) -> None:
        pass


class InstantOutcomes:
    """Every event is settled as soon as it is sent."""

    def __init__(self, settings: Settings, tally: Tally, users: Set[str]) -> None:
        self.closed = False

    def expect(self, event_id: str) -> None:
        pass

    def settled(self, event_id: str) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def _simulate(world: World, config: RunConfig, stop: threading.Event | None = None) -> Tally:
    tally = Tally(config.listeners)
    simulation = Simulation(
        SETTINGS,
        config,
        tally,
        client_factory=lambda _settings: FakeClient(world),  # type: ignore[arg-type,return-value]
        outcomes_factory=InstantOutcomes,
        preflight=lambda _settings: None,
    )
    simulation.run(stop)
    return tally


def _config(**overrides: Any) -> RunConfig:
    fields: dict[str, Any] = {
        "listeners": 5,
        "rate": 50.0,
        "duration_s": 2.5,
        "seed": 7,
        "speed": 20.0,
        "settle_s": 0.0,
    }
    return RunConfig(**{**fields, **overrides})


def test_each_listener_sends_its_planned_session_then_logs_out() -> None:
    world, config = World(), _config()
    tally = _simulate(world, config)
    assert world.clients == 3  # 5 listeners, 2 per client
    assert len(world.logouts) == 5
    for n in range(config.listeners):
        user = f"sim7-{n:05d}"
        joined_at = config.joined_at_s(n)
        plan = plan_session(
            7, n, SHELVES, config.duration_s - joined_at, speed=20.0, joined_at_s=joined_at
        )
        sent = world.plays[user]
        assert [(s.operation, s.track_id, s.genre) for s in sent] == [
            (e.operation, e.track.track_id, e.genre) for e in plan
        ]
        assert world.logouts[user] == len(sent)  # logged out after the last play event
        assert [s.event_time for s in sent] == sorted(s.event_time for s in sent)
        for s in sent:
            assert s.start_time <= s.event_time
    snapshot = tally.snapshot()
    assert snapshot.sent == sum(len(v) for v in world.plays.values()) > 0
    assert snapshot.joined == snapshot.finished == 5


def test_a_play_keeps_its_start_time_until_it_closes() -> None:
    world = World()
    _simulate(world, _config(listeners=2, duration_s=1.5))
    for sent in world.plays.values():
        current: datetime | None = None
        for s in sent:
            if s.operation == "start":
                assert current is None, "two plays under way at once"
                current = s.start_time
                assert s.start_time == s.event_time
            else:
                assert s.start_time == current
            if s.operation in ("stop", "end"):
                current = None
        assert current is None


def test_stopping_closes_the_plays_under_way_and_logs_everyone_out() -> None:
    world, stop = World(), threading.Event()
    threading.Timer(1.0, stop.set).start()
    eager = Behaviour(gap_s=(0.1, 0.2), pause_share=0.0, skip_share=0.0)  # mid-play at 1 s
    _simulate(world, _config(duration_s=120.0, speed=1.0, behaviour=eager), stop)
    assert len(world.logouts) == 5
    assert len(world.plays) == 5
    for sent in world.plays.values():
        assert [s.operation for s in sent] == ["start", "stop"]


def test_a_second_run_of_a_seed_logs_in_to_the_accounts_of_the_first() -> None:
    world = World()
    _simulate(world, _config(listeners=3, duration_s=1.0))
    world.logouts.clear()
    _simulate(world, _config(listeners=3, duration_s=1.0))
    assert len(world.accounts) == 3
    assert len(world.logins) == 6


def test_a_sessions_file_skips_logins_and_keeps_the_sessions(tmp_path: Path) -> None:
    world, cache = World(), tmp_path / "sessions.json"
    _simulate(world, _config(listeners=3, duration_s=1.0, sessions_file=cache))
    _simulate(world, _config(listeners=3, duration_s=1.0, sessions_file=cache))
    assert len(world.logins) == 3  # the second run reused every session
    assert world.logouts == {}  # kept alive for the next run
    assert cache.stat().st_mode & 0o777 == 0o600


def test_no_reply_at_all_fails_the_run_instead_of_waiting() -> None:
    with pytest.raises(SimulationError, match="no listener could sign in"):
        _simulate(World(unreachable=True), _config(listeners=3))
