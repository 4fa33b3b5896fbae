"""Everything a handler may use, in one object: stores, keys, clocks, throttles.

Built from real MongoDB repositories by ``runner`` and from in-memory doubles by tests, so
handlers never know which.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bluetrack.config import Settings
from bluetrack.core.throttle import BackoffPolicy, FailureThrottle, RateLimiter
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.messages import Shelf
from bluetrack.server.auth import Authenticator
from bluetrack.server.passwords import PasswordHasher
from bluetrack.server.session_cache import SessionCache
from bluetrack.store.server_keys import ServerKeys
from bluetrack.store.sessions import SessionStore
from bluetrack.store.users import UserStore


class SongSource(Protocol):
    def random_shelves(
        self, n_genres: int, per_genre: int, rng: random.Random
    ) -> Sequence[Shelf]: ...


@dataclass(frozen=True, slots=True)
class TrackFacts:
    """What a play event is checked against: the track's real duration and genres."""

    duration_ms: int
    genres: frozenset[str]


TrackIndex = Mapping[str, TrackFacts]


@dataclass
class ServerContext:
    settings: Settings
    keys: ServerKeys
    users: UserStore
    sessions: SessionStore
    songs: SongSource
    passwords: PasswordHasher
    auth: Authenticator
    session_cache: SessionCache
    login_failures: FailureThrottle
    registrations: RateLimiter
    now: Callable[[], datetime] = utc_now
    _rng: threading.local = field(default_factory=threading.local)

    def rng(self) -> random.Random:
        """One generator per worker thread (random.Random is not meant to be shared)."""
        generator: random.Random | None = getattr(self._rng, "generator", None)
        if generator is None:
            generator = self._rng.generator = random.Random()
        return generator

    @classmethod
    def create(
        cls,
        settings: Settings,
        keys: ServerKeys,
        users: UserStore,
        sessions: SessionStore,
        songs: SongSource,
        *,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        passwords: PasswordHasher | None = None,
    ) -> ServerContext:
        policy = BackoffPolicy(
            free_failures=settings.login_max_failures,
            window_s=settings.login_failure_window_s,
            base_delay_s=settings.login_base_delay_s,
            max_delay_s=settings.login_failure_window_s,
        )
        session_cache = SessionCache(
            sessions, keys.master_secret, recheck_s=settings.session_recheck_s, clock=monotonic
        )
        return cls(
            settings=settings,
            keys=keys,
            users=users,
            sessions=sessions,
            songs=songs,
            passwords=passwords or PasswordHasher(settings.bcrypt_cost),
            auth=Authenticator(
                keys.private_key,
                session_cache,
                clock_skew_s=settings.clock_skew_s,
                now=now,
                monotonic=monotonic,
            ),
            session_cache=session_cache,
            login_failures=FailureThrottle(policy, monotonic),
            registrations=RateLimiter(settings.register_per_client_per_minute, 60.0, monotonic),
            now=now,
        )
