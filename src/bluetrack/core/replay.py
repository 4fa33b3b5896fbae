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
        # (bucket start, ids), newest on the right; an id may sit in an older bucket too
        # after being remembered again, and then only its newest bucket counts.
        self._buckets: deque[tuple[float, set[str]]] = deque()
        # Every remembered id -> the start of its newest bucket: one probe per lookup (the
        # plays loop asks once per event).
        self._newest: dict[str, float] = {}
        self.evicted = 0  # ids forgotten early because of max_entries

    def seen(self, item: str) -> bool:
        return item in self._newest

    def remember(self, item: str) -> None:
        self.remember_many((item,))

    def remember_many(self, items: Collection[str]) -> None:
        """``remember`` each of ``items`` (one clock read for all of them)."""
        if not items:
            return
        now = self._clock()
        self._expire(now)
        if not self._buckets or now - self._buckets[-1][0] >= self._bucket_s:
            self._buckets.append((now, set()))
        start, ids = self._buckets[-1]
        ids.update(items)
        self._newest.update(dict.fromkeys(items, start))
        while len(self._newest) > self._max_entries and len(self._buckets) > 1:
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
            start = self._newest.pop(item, None)
            if start is None:
                continue
            for bucket_start, ids in self._buckets:
                if bucket_start == start:
                    ids.discard(item)
                    break

    def __len__(self) -> int:
        return len(self._newest)

    def _expire(self, now: float) -> None:
        # A bucket may go once its newest possible member is older than the horizon.
        while self._buckets and now - self._buckets[0][0] >= self.horizon_s + self._bucket_s:
            self._drop_oldest(counted=False)

    def _drop_oldest(self, *, counted: bool = True) -> None:
        start, ids = self._buckets.popleft()
        newest = self._newest
        dropped = [item for item in ids if newest.get(item) == start]
        for item in dropped:
            del newest[item]
        if counted:
            self.evicted += len(dropped)
