"""Throttling and rate limiting, pure and clock-injected.

* ``FailureThrottle`` -- failed logins per account and per client: the first few are free,
  then each further failure doubles the wait (capped), and a quiet window forgets them all.
* ``RateLimiter`` -- a token bucket per client for registration spam.

Both are bounded in memory (an attacker choosing fresh keys evicts the stalest entries,
never grows the map without limit) and thread-safe, because request handlers run in a pool.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
DEFAULT_MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    free_failures: int  # failures allowed before any delay
    window_s: float  # a key quiet for this long starts again from zero
    base_delay_s: float  # the first delay; each further failure doubles it
    max_delay_s: float  # the ceiling, so a locked-out owner is never locked out for long

    def delay_after(self, failures: int) -> float:
        excess = failures - self.free_failures
        if excess < 0:
            return 0.0
        # Cap the exponent before exponentiating: failures are attacker-controlled.
        return min(self.base_delay_s * 2.0 ** min(excess, 64), self.max_delay_s)


@dataclass(frozen=True, slots=True)
class _Failures:
    count: int
    last_at: float


class FailureThrottle:
    def __init__(
        self, policy: BackoffPolicy, clock: Clock = time.monotonic, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0.0 means now."""
        now = self._clock()
        with self._lock:
            return self._wait(self._current(key, now), now)

    def record_failure(self, key: str) -> float:
        """Count a failure; returns the wait it imposes on the next attempt."""
        now = self._clock()
        with self._lock:
            count = self._add_failure(key, now)
        return self.policy.delay_after(count)

    def attempt(self, *keys: str) -> float:
        """Start an attempt on behalf of all ``keys`` at once.

        Returns the wait if any key is throttled (nothing is counted). Otherwise the attempt
        is counted as a failure *before* it runs -- so parallel guesses cannot all slip past
        the check while the first one is still hashing -- and 0.0 is returned; call
        ``succeeded`` when it turns out well.
        """
        now = self._clock()
        with self._lock:
            waits = [self._wait(self._current(key, now), now) for key in keys]
            if max(waits, default=0.0) > 0.0:
                return max(waits)
            for key in keys:
                self._add_failure(key, now)
        return 0.0

    def succeeded(self, *, clear: str, forgive: str | None = None) -> None:
        """After a good attempt: wipe ``clear`` (the account), un-count one for ``forgive``
        (the client, which keeps its other failures: a spraying client may own an account)."""
        with self._lock:
            self._failures.pop(clear, None)
            record = self._failures.get(forgive) if forgive is not None else None
            if forgive is not None and record is not None:
                if record.count <= 1:
                    del self._failures[forgive]
                else:
                    self._failures[forgive] = _Failures(record.count - 1, record.last_at)

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._lock:
            record = self._current(key, self._clock())
        return record.count if record else 0

    def prune(self) -> int:
        """Forget keys quiet for a whole window; returns how many were dropped."""
        now = self._clock()
        with self._lock:
            stale = [k for k, r in self._failures.items() if self._expired(r, now)]
            for key in stale:
                del self._failures[key]
        return len(stale)

    def __len__(self) -> int:
        return len(self._failures)

    def _wait(self, record: _Failures | None, now: float) -> float:
        if record is None:
            return 0.0
        return max(0.0, record.last_at + self.policy.delay_after(record.count) - now)

    def _add_failure(self, key: str, now: float) -> int:
        record = self._current(key, now)
        count = record.count + 1 if record else 1
        self._failures[key] = _Failures(count, now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
        return count

    def _current(self, key: str, now: float) -> _Failures | None:
        record = self._failures.get(key)
        if record is not None and self._expired(record, now):
            del self._failures[key]
            return None
        return record

    def _expired(self, record: _Failures, now: float) -> bool:
        quiet_for = now - record.last_at
        return quiet_for >= max(self.policy.window_s, self.policy.delay_after(record.count))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    """``capacity`` actions at once, refilled at ``capacity`` per ``period_s``."""

    def __init__(
        self,
        capacity: int,
        period_s: float,
        clock: Clock = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if capacity < 1 or period_s <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and a positive period")
        self.capacity = float(capacity)
        self.rate = capacity / period_s
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, key: str) -> float:
        """Take one token: returns 0.0 if allowed, else the seconds until one is free."""
        now = self._clock()
        with self._lock:
            bucket = self._refilled(key, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def prune(self) -> int:
        """Drop full buckets: they hold no information."""
        now = self._clock()
        with self._lock:
            full = [k for k, b in self._buckets.items() if self._tokens_at(b, now) >= self.capacity]
            for key in full:
                del self._buckets[key]
        return len(full)

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = self._tokens_at(bucket, now)
            bucket.updated_at = now
            self._buckets.move_to_end(key)
        return bucket

    def _tokens_at(self, bucket: _Bucket, now: float) -> float:
        return min(self.capacity, bucket.tokens + (now - bucket.updated_at) * self.rate)
