"""Sessions as the server's hot paths see them: in memory, refreshed from the store.

Play events and authenticated requests must come from a live session; asking the store
every time would cap throughput at its round-trip rate (and on FerretDB every lookup is a
scan). So:

* a session is read from the store when first seen, and again when the cache thinks it
  expired (another process may have extended it);
* every entry older than ``recheck_s`` is re-read in the background (``refresh_stale``,
  one query for all of them), so a logout or extension done by another server process is
  seen within about ``recheck_s`` and no request waits for that re-read;
* unknown ids are remembered too (until the next background pass), so a flood of forged ids
  costs one lookup per id, not one per message;
* this process's own logins, logouts and extensions update the cache at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from bluetrack.protocol import sealing
from bluetrack.store.sessions import SessionRecord, SessionStore

Clock = Callable[[], float]
REFRESH_CHUNK = 1000  # session ids per background query


@dataclass(frozen=True, slots=True)
class LiveSession:
    session_id: str
    user_id: str
    username: str
    token_hash: str
    expires_at: datetime
    play_key: bytes

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class _Entry:
    session: LiveSession | None  # None: the store does not know this id
    checked_at: float


class SessionCache:
    def __init__(
        self,
        store: SessionStore,
        master_secret: bytes,
        *,
        recheck_s: float = 30.0,
        max_entries: int = 500_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store = store
        self._master_secret = master_secret
        self._recheck_s = recheck_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self.refreshes = 0  # store round trips, for tests and metrics

    def refresh(self, session_ids: Iterable[str], now: datetime) -> None:
        """Load every id that is unknown or looks expired, in one store round trip."""
        wanted = {s for s in session_ids if self._needs_refresh(s, now)}
        if wanted:
            self._load(wanted)

    def refresh_stale(self) -> int:
        """Re-read every entry older than ``recheck_s``; forget stale unknown ids."""
        tick = self._clock()
        stale = [
            s for s, e in list(self._entries.items()) if tick - e.checked_at >= self._recheck_s
        ]
        known = [s for s in stale if self.get(s) is not None]
        for session_id in set(stale) - set(known):
            self._entries.pop(session_id, None)
        for start in range(0, len(known), REFRESH_CHUNK):
            self._load(known[start : start + REFRESH_CHUNK])
        return len(stale)

    def _load(self, session_ids: Iterable[str]) -> None:
        tick = self._clock()
        wanted = list(session_ids)
        found = self._store.get_many(wanted)
        self.refreshes += 1
        if len(self._entries) + len(wanted) > self._max_entries:
            self._entries.clear()  # crude but bounded; a refill costs one lookup per batch
        for session_id in wanted:
            self._entries[session_id] = _Entry(self._live(found.get(session_id)), tick)

    def get(self, session_id: str) -> LiveSession | None:
        """What the cache holds (call ``refresh`` first)."""
        entry = self._entries.get(session_id)
        return entry.session if entry is not None else None

    def lookup(self, session_id: str, now: datetime) -> LiveSession | None:
        """One session, from the store if the cache cannot vouch for it."""
        self.refresh((session_id,), now)
        return self.get(session_id)

    def remember(self, record: SessionRecord) -> None:
        """A session this process just opened."""
        self._entries[record.session_id] = _Entry(self._live(record), self._clock())

    def extended(self, session_id: str, expires_at: datetime) -> None:
        entry = self._entries.get(session_id)
        if entry is not None and entry.session is not None:
            live = replace(entry.session, expires_at=expires_at)
            self._entries[session_id] = _Entry(live, entry.checked_at)

    def invalidate(self, session_id: str) -> None:
        """This process logged the session out: refuse it from now on."""
        self._entries[session_id] = _Entry(None, self._clock())

    def _live(self, record: SessionRecord | None) -> LiveSession | None:
        if record is None:
            return None
        return LiveSession(
            session_id=record.session_id,
            user_id=record.user_id,
            username=record.username,
            token_hash=record.token_hash,
            expires_at=record.expires_at,
            play_key=sealing.play_key_for(self._master_secret, record.session_id),
        )

    def _needs_refresh(self, session_id: str, now: datetime) -> bool:
        entry = self._entries.get(session_id)
        if entry is None:
            return True
        # An expired entry may have been extended by another process meanwhile.
        return entry.session is not None and entry.session.expired(now)
