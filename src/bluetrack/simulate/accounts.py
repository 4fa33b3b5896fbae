"""Simulated listeners' accounts: names fixed by the seed, signing in through the protocol,
and an optional file of sessions so a large run need not pay a bcrypt login per listener."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.exceptions import RequestFailed
from bluetrack.bus.session import Session
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.messages import Shelf

log = logging.getLogger(__name__)

T = TypeVar("T")

EMAIL_DOMAIN = "sim.bluetrack.example"
MAX_WAITS = 6  # rate-limit or throttle waits before a sign-in gives up
SESSION_MARGIN = timedelta(minutes=10)  # a cached session this close to expiry is not reused
_STALE_SESSION = {ErrorCode.INVALID_SESSION, ErrorCode.SESSION_EXPIRED}


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    email: str
    password: str


def credentials_for(seed: int, listener: int) -> Credentials:
    """The same seed names the same accounts, so a second run logs in instead of registering.

    The password is derived, not secret: these are throwaway accounts of a load test.
    """
    return throwaway_account(f"sim{seed}-{listener:05d}")


def throwaway_account(username: str) -> Credentials:
    """An account whose password anyone can derive: for local simulations and demos only."""
    digest = hashlib.sha256(f"bluetrack-sim|{username}".encode()).hexdigest()
    return Credentials(username, f"{username}@{EMAIL_DOMAIN}", "pw-" + digest[:20])


class SessionCache:
    """Sessions saved between runs, by username; the file holds bearer secrets, so 0600."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        if path is not None and path.exists():
            stored = json.loads(path.read_text())
            self._sessions = {name: Session.from_json(text) for name, text in stored.items()}

    @property
    def enabled(self) -> bool:
        return self._path is not None

    def get(self, username: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(username)
        if session is None or session.expires_at - SESSION_MARGIN < utc_now():
            return None
        return session

    def put(self, username: str, session: Session) -> None:
        with self._lock:
            self._sessions[username] = session

    def forget(self, username: str) -> None:
        with self._lock:
            self._sessions.pop(username, None)

    def save(self) -> None:
        if self._path is None:
            return
        with self._lock:
            text = json.dumps({name: s.to_json() for name, s in sorted(self._sessions.items())})
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_name(self._path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        partial.replace(self._path)


def _patiently(call: Callable[[], T]) -> T:
    """Run ``call``, waiting out rate limits and login throttling as a polite client would."""
    for _ in range(MAX_WAITS):
        try:
            return call()
        except RequestFailed as exc:
            if exc.info.code not in (ErrorCode.RATE_LIMITED, ErrorCode.THROTTLED):
                raise
            wait = exc.info.retry_after_s or 1.0
            log.info("%s: waiting %.1f s", exc.info.code.value, wait)
            time.sleep(wait)
    return call()


def register_and_login(client: BlueTrackClient, who: Credentials) -> Session:
    """Register ``who`` (unless an earlier run did) and log in."""
    try:
        _patiently(lambda: client.register(who.username, who.email, who.password))
    except RequestFailed as exc:
        if exc.info.code is not ErrorCode.USERNAME_TAKEN:
            raise  # taken means an earlier run with this seed made it: log in
    return _patiently(lambda: client.login(who.username, who.password))


def sign_in(
    client: BlueTrackClient, who: Credentials, cache: SessionCache
) -> tuple[Session, list[Shelf]]:
    """A session and the shelves the server offers it; the songs request proves the session."""
    session = cache.get(who.username)
    if session is not None:
        try:
            return session, client.songs(session)
        except RequestFailed as exc:
            if exc.info.code not in _STALE_SESSION:
                raise
            cache.forget(who.username)
    session = register_and_login(client, who)
    cache.put(who.username, session)
    return session, client.songs(session)
