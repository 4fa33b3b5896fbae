"""Remembering ids for a while, to refuse a message seen before (replays, duplicates).

Ids live in time buckets, so forgetting old ones is dropping a whole bucket, and a lookup is a
handful of set probes. Pure and clock-injected; NOT thread-safe (each user serialises access:
the plays loop is one thread, request handlers share one behind a lock).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable

Clock = Callable[[], float]


class ReplayGuard:
    def __init__(
        self,
        horizon_s: float,
        *,
        buckets: int = 12,
        max_entries: int = 2_000_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if horizon_s <= 0 or buckets < 1:
            raise ValueError("a replay guard needs a positive horizon and at least one bucket")
        self.horizon_s = horizon_s
        self._bucket_s = horizon_s / buckets
        self._max_entries = max_entries
        self._clock = clock
        # (bucket start, ids), newest on the right
        self._buckets: deque[tuple[float, set[str]]] = deque()
        self._size = 0
        self.evicted = 0  # ids forgotten early because of max_entries

    def seen(self, item: str) -> bool:
        # Newest first: a replay is most likely to be recent. (A loop: this runs per event.)
        for _, ids in reversed(self._buckets):  # noqa: SIM110 (no generator per event)
            if item in ids:
                return True
        return False

    def remember(self, item: str) -> None:
        now = self._clock()
        self._expire(now)
        if not self._buckets or now - self._buckets[-1][0] >= self._bucket_s:
            self._buckets.append((now, set()))
        ids = self._buckets[-1][1]
        if item not in ids:
            ids.add(item)
            self._size += 1
        while self._size > self._max_entries and len(self._buckets) > 1:
            self._drop_oldest()

    def remember_many(self, items: Collection[str]) -> None:
        """``remember`` each of ``items`` (one clock read for all of them)."""
        if not items:
            return
        now = self._clock()
        self._expire(now)
        if not self._buckets or now - self._buckets[-1][0] >= self._bucket_s:
            self._buckets.append((now, set()))
        ids = self._buckets[-1][1]
        before = len(ids)
        ids.update(items)
        self._size += len(ids) - before
        while self._size > self._max_entries and len(self._buckets) > 1:
            self._drop_oldest()

    def check_and_remember(self, item: str) -> bool:
        """True if ``item`` is new (and now remembered), False if it was seen before."""
        if self.seen(item):
            return False
        self.remember(item)
        return True

    def forget(self, items: Iterable[str]) -> None:
        """Undo ``remember`` (a batch that could not be delivered will come again)."""
        for item in items:
            for _, ids in self._buckets:
                if item in ids:
                    ids.discard(item)
                    self._size -= 1
                    break

    def __len__(self) -> int:
        return self._size

    def _expire(self, now: float) -> None:
        # A bucket may go once its newest possible member is older than the horizon.
        while self._buckets and now - self._buckets[0][0] >= self.horizon_s + self._bucket_s:
            self._drop_oldest(counted=False)

    def _drop_oldest(self, *, counted: bool = True) -> None:
        _, ids = self._buckets.popleft()
        self._size -= len(ids)
        if counted:
            self.evicted += len(ids)
