"""HistoryWriter: writes behind, retries failures, never blocks the plays loop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from bluetrack.server.history_writer import HistoryWriter
from bluetrack.store.history import HistoryEntry, InMemoryHistory

AT = datetime(2026, 3, 1, tzinfo=UTC)


def entries(n: int, prefix: str = "e") -> list[HistoryEntry]:
    return [
        HistoryEntry(f"{prefix}{i}", "u", "t", "rock", "start", AT, AT, 1, AT) for i in range(n)
    ]


class FlakyStore:
    """Fails the first ``failures`` writes, then behaves."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inner = InMemoryHistory()

    def add_many(self, batch: Sequence[HistoryEntry]) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store down")
        return self.inner.add_many(batch)


class BlockedStore:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.inner = InMemoryHistory()

    def add_many(self, batch: Sequence[HistoryEntry]) -> int:
        self.release.wait(10)
        return self.inner.add_many(batch)


def test_everything_queued_is_written_by_close() -> None:
    store = InMemoryHistory()
    writer = HistoryWriter(store, max_batch=7)
    writer.start()
    writer.put(entries(50))
    writer.put(entries(50))  # the same ids again: written once
    writer.close()
    assert len(store.entries) == 50
    assert writer.written == 50 and writer.dropped == 0


def test_failed_writes_are_retried() -> None:
    store = FlakyStore(failures=2)
    writer = HistoryWriter(store, retry_s=0.01)
    writer.start()
    writer.put(entries(10))
    writer.close()
    assert len(store.inner.entries) == 10


def test_a_full_buffer_drops_instead_of_blocking() -> None:
    store = BlockedStore()
    writer = HistoryWriter(store, max_batch=10, max_pending=25)
    writer.start()
    for i in range(10):
        writer.put(entries(10, prefix=f"b{i}-"))  # returns at once although nothing is written
    assert writer.dropped > 0
    store.release.set()
    writer.close()
    assert writer.written + writer.dropped == 100
