"""Separate lanes for slow and fast requests, so bcrypt never holds up a songs_update.

Registration and login spend a bcrypt each (about a quarter second at cost 12); session
checks and song shelves take a millisecond. Each lane has its own worker pool and its own
bound on queued work; when a lane is full, only ITS topics are paused on the consumer, so a
flood of logins waits in Kafka while songs requests keep flowing.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from bluetrack.protocol.topics import Topic

# The requests that hash a password.
SLOW_TOPICS = frozenset({str(Topic.REGISTER_USER), str(Topic.LOGIN_USER)})


@dataclass
class Lane:
    name: str
    topics: frozenset[str]
    workers: int
    max_in_flight: int
    in_flight: int = 0
    paused: bool = False

    @property
    def full(self) -> bool:
        return self.in_flight >= self.max_in_flight

    @property
    def drained(self) -> bool:
        """Low enough to fetch again (half empty, so we do not flap at the limit)."""
        return self.in_flight <= self.max_in_flight // 2


@dataclass
class Lanes:
    slow: Lane
    fast: Lane
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_workers(cls, workers: int, cpus: int | None = None) -> Lanes:
        # bcrypt is pure CPU: more hashing threads than cores add no logins per second,
        # they only take CPU time from the fast lane.
        hashers = max(1, min(workers, cpus or os.cpu_count() or 1))
        return cls(
            slow=Lane("slow", SLOW_TOPICS, hashers, hashers * 4),
            fast=Lane("fast", frozenset(), workers, workers * 8),
        )

    def route(self, topic: str) -> Lane:
        return self.slow if topic in self.slow.topics else self.fast

    def started(self, lane: Lane) -> None:
        with self._lock:
            lane.in_flight += 1

    def finished(self, lane: Lane) -> None:
        with self._lock:
            lane.in_flight -= 1

    def to_pause(self) -> list[Lane]:
        """Lanes that just became full (mark them paused)."""
        with self._lock:
            lanes = [lane for lane in (self.slow, self.fast) if lane.full and not lane.paused]
            for lane in lanes:
                lane.paused = True
        return lanes

    def to_resume(self) -> list[Lane]:
        """Paused lanes with room again (mark them running)."""
        with self._lock:
            lanes = [lane for lane in (self.slow, self.fast) if lane.paused and lane.drained]
            for lane in lanes:
                lane.paused = False
        return lanes

    def forget_pauses(self) -> None:
        """After a rebalance the consumer's new partitions are not paused."""
        with self._lock:
            self.slow.paused = self.fast.paused = False
