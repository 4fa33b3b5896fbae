"""Each user's listening history in MongoDB (collection ``listening_history``).

Written in batches off the plays hot path. The event id is the document ``_id`` and inserts
are unordered, so a redelivered batch inserts what is missing and skips the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from bluetrack.store.database import index_hook
from bluetrack.store.users import as_utc

COLLECTION = "listening_history"
DUPLICATE_KEY = 11000


@dataclass(slots=True)  # not frozen: built 50k times a second, frozen init is 3x slower
class HistoryEntry:
    event_id: str
    user_id: str
    track_id: str
    genre: str
    operation_type: str
    start_time: datetime
    event_time: datetime
    duration_ms: int
    accepted_at: datetime


class HistoryStore(Protocol):
    def add_many(self, entries: Sequence[HistoryEntry]) -> int:
        """Insert what is new; returns how many were inserted."""


class HistoryRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._history = db[COLLECTION]

    def ensure_indexes(self) -> None:
        self._history.create_index(
            [("user_id", 1), ("event_time", DESCENDING)], name="by_user_time"
        )

    def add_many(self, entries: Sequence[HistoryEntry]) -> int:
        if not entries:
            return 0
        docs = [_to_doc(e) for e in entries]
        try:
            return len(self._history.insert_many(docs, ordered=False).inserted_ids)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise
            return int(exc.details.get("nInserted", len(docs) - len(errors)))

    def for_user(self, user_id: str, limit: int = 50) -> list[HistoryEntry]:
        """Most recent first."""
        cursor = self._history.find({"user_id": user_id}).sort("event_time", DESCENDING)
        return [_from_doc(doc) for doc in cursor.limit(limit)]


@index_hook(COLLECTION)
def _ensure_history_indexes(db: Database[Any]) -> None:
    HistoryRepository(db).ensure_indexes()


def _to_doc(entry: HistoryEntry) -> dict[str, Any]:
    # Spelled out: dataclasses.asdict deep-copies and is several times slower.
    return {
        "_id": entry.event_id,
        "user_id": entry.user_id,
        "track_id": entry.track_id,
        "genre": entry.genre,
        "operation_type": entry.operation_type,
        "start_time": entry.start_time,
        "event_time": entry.event_time,
        "duration_ms": entry.duration_ms,
        "accepted_at": entry.accepted_at,
    }


def _from_doc(doc: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        event_id=str(doc["_id"]),
        user_id=doc["user_id"],
        track_id=doc["track_id"],
        genre=doc["genre"],
        operation_type=doc["operation_type"],
        start_time=as_utc(doc["start_time"]),
        event_time=as_utc(doc["event_time"]),
        duration_ms=int(doc["duration_ms"]),
        accepted_at=as_utc(doc["accepted_at"]),
    )


class InMemoryHistory:
    """A HistoryStore double; idempotent on event id like the real one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[str, HistoryEntry] = {}

    def add_many(self, entries: Sequence[HistoryEntry]) -> int:
        with self._lock:
            new = [e for e in entries if e.event_id not in self.entries]
            self.entries.update((e.event_id, e) for e in new)
        return len(new)
