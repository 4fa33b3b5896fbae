"""Sessions as the plays hot path sees them: in memory, refreshed from the store in batches.

A play event must come from a live session; asking MongoDB per event would cap throughput
at the store's round-trip rate. Entries are trusted for ``recheck_s`` (so a logout or an
extension done by another server process is seen within that time) and until they expire.
Unknown session ids are remembered too, so a flood of forged ids costs one lookup per
batch, not one per event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bluetrack.protocol import sealing
from bluetrack.store.sessions import SessionStore

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class LiveSession:
    user_id: str
    expires_at: datetime
    play_key: bytes


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
        """Load every id that is missing, stale or expired in one store round trip."""
        tick = self._clock()
        wanted = {s for s in session_ids if self._needs_refresh(s, now, tick)}
        if not wanted:
            return
        found = self._store.get_many(wanted)
        self.refreshes += 1
        if len(self._entries) + len(wanted) > self._max_entries:
            self._entries.clear()  # crude but bounded; a refill costs one lookup per batch
        for session_id in wanted:
            record = found.get(session_id)
            live = (
                LiveSession(
                    record.user_id,
                    record.expires_at,
                    sealing.play_key_for(self._master_secret, session_id),
                )
                if record is not None
                else None
            )
            self._entries[session_id] = _Entry(live, tick)

    def get(self, session_id: str) -> LiveSession | None:
        entry = self._entries.get(session_id)
        return entry.session if entry is not None else None

    def invalidate(self, session_id: str) -> None:
        """Forget a session at once (this process logged it out)."""
        self._entries.pop(session_id, None)

    def _needs_refresh(self, session_id: str, now: datetime, tick: float) -> bool:
        entry = self._entries.get(session_id)
        if entry is None or tick - entry.checked_at >= self._recheck_s:
            return True
        # An expired entry may have been extended by a session_auth meanwhile.
        return entry.session is not None and entry.session.expires_at <= now
