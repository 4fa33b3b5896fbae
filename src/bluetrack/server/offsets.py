"""Which offsets are safe to commit when requests finish out of order.

Requests run concurrently, so offset 7 may finish before offset 5. Committing 8 then would
lose 5 and 6 on a crash; the tracker only ever offers the offset just below the oldest
message still in flight (at-least-once: a crash re-handles a few finished requests, which
request ids make harmless).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

Partition = tuple[str, int]


@dataclass
class _PartitionState:
    in_flight: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest offset finished
    committed: int | None = None  # what was last offered for commit


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[Partition, _PartitionState] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self._partitions.setdefault((topic, partition), _PartitionState()).in_flight.add(offset)

    def finished(self, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            state = self._partitions.get((topic, partition))
            if state is None:  # the partition was revoked meanwhile
                return
            state.in_flight.discard(offset)
            if state.next_offset is None or offset + 1 > state.next_offset:
                state.next_offset = offset + 1

    def in_flight(self) -> int:
        with self._lock:
            return sum(len(s.in_flight) for s in self._partitions.values())

    def committable(self) -> dict[Partition, int]:
        """New commit positions (the next offset to read) since the last call."""
        offers: dict[Partition, int] = {}
        with self._lock:
            for key, state in self._partitions.items():
                position = min(state.in_flight) if state.in_flight else state.next_offset
                if position is not None and position != state.committed:
                    offers[key] = position
                    state.committed = position
        return offers

    def reset(self) -> None:
        """Forget everything (after a rebalance took our partitions away)."""
        with self._lock:
            self._partitions.clear()
