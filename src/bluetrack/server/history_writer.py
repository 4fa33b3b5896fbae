"""Listening history written behind the plays hot path, in big unordered batches.

History must never slow down accepting plays (the charts depend on those, history is for
the user to browse later), and a MongoDB-compatible store may insert far fewer documents per
second than the server accepts plays (FerretDB on SQLite manages a few thousand). So:
a buffer of at most ``max_pending`` entries, drained by one thread into ``insert_many``
calls; failed writes are retried (idempotent: event ids are the ``_id``s); if the store
falls so far behind that the buffer is full, new entries are dropped, counted and logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from bluetrack.store.history import HistoryEntry, HistoryStore

log = logging.getLogger(__name__)

WARN_EVERY_S = 10.0


class HistoryWriter:
    def __init__(
        self,
        store: HistoryStore,
        *,
        max_batch: int = 5000,
        max_pending: int = 200_000,
        retry_s: float = 1.0,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._retry_s = retry_s
        self._pending: deque[HistoryEntry] = deque()
        self._ready = threading.Condition()
        self._closing = False
        self._last_warning = 0.0
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self.written = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def put(self, entries: list[HistoryEntry]) -> None:
        """Queue entries without ever blocking the caller."""
        if not entries:
            return
        with self._ready:
            if len(self._pending) + len(entries) > self._max_pending:
                self._drop(len(entries))
                return
            self._pending.extend(entries)
            self._ready.notify()

    def pending(self) -> int:
        return len(self._pending)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued (for at most ``timeout_s``), then stop."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closing:
                    self._ready.wait()
                if not self._pending:
                    return  # closing and drained
                count = min(len(self._pending), self._max_batch)
                batch = [self._pending.popleft() for _ in range(count)]
            self._write(batch)

    def _write(self, entries: list[HistoryEntry]) -> None:
        attempt = 0
        while True:
            try:
                self.written += self._store.add_many(entries)
                return
            except Exception as exc:
                attempt += 1
                log.warning("history write of %d entries failed (%s); retrying", len(entries), exc)
                if self._closing and attempt >= 3:
                    log.error("giving up on %d history entries at shutdown", len(entries))
                    return
                time.sleep(min(self._retry_s * attempt, 30.0))

    def _drop(self, count: int) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "history store is %d entries behind: %d entries dropped so far "
                "(accepted plays and charts are not affected)",
                len(self._pending),
                self.dropped,
            )
