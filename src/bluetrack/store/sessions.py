"""Login sessions in MongoDB (collection ``sessions``).

Only the SHA-256 of a session's token is stored, so a copy of the database opens no
session. FerretDB has no TTL indexes: expiry is checked in code on every use and expired
sessions are purged by the server periodically.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from pymongo.database import Database

from bluetrack.store.database import index_hook
from bluetrack.store.users import as_utc

COLLECTION = "sessions"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    user_id: str
    username: str
    token_hash: str  # sha256 hex of the 256-bit token; the token itself is never stored
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class SessionStore(Protocol):
    def create(self, session: SessionRecord) -> None: ...

    def get(self, session_id: str) -> SessionRecord | None: ...

    def get_many(self, session_ids: Iterable[str]) -> dict[str, SessionRecord]: ...

    def extend(self, session_id: str, expires_at: datetime) -> bool: ...

    def delete(self, session_id: str) -> bool: ...

    def purge_expired(self, now: datetime) -> int: ...


class SessionRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._sessions = db[COLLECTION]

    def ensure_indexes(self) -> None:
        self._sessions.create_index("user_id", name="by_user")
        self._sessions.create_index("expires_at", name="by_expiry")  # for the purge

    def create(self, session: SessionRecord) -> None:
        self._sessions.insert_one(_to_doc(session))

    def get(self, session_id: str) -> SessionRecord | None:
        return _from_doc(self._sessions.find_one({"_id": session_id}))

    def get_many(self, session_ids: Iterable[str]) -> dict[str, SessionRecord]:
        """One round trip for all the sessions a batch of plays names."""
        found = self._sessions.find({"_id": {"$in": list(session_ids)}})
        return {s.session_id: s for s in map(_from_doc, found) if s is not None}

    def extend(self, session_id: str, expires_at: datetime) -> bool:
        result = self._sessions.update_one(
            {"_id": session_id}, {"$set": {"expires_at": expires_at}}
        )
        return result.matched_count == 1

    def delete(self, session_id: str) -> bool:
        return self._sessions.delete_one({"_id": session_id}).deleted_count == 1

    def purge_expired(self, now: datetime) -> int:
        return self._sessions.delete_many({"expires_at": {"$lte": now}}).deleted_count


@index_hook(COLLECTION)
def _ensure_sessions_indexes(db: Database[Any]) -> None:
    SessionRepository(db).ensure_indexes()


def _to_doc(session: SessionRecord) -> dict[str, Any]:
    return {
        "_id": session.session_id,
        "user_id": session.user_id,
        "username": session.username,
        "token_hash": session.token_hash,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
    }


def _from_doc(doc: dict[str, Any] | None) -> SessionRecord | None:
    if doc is None:
        return None
    return SessionRecord(
        session_id=str(doc["_id"]),
        user_id=doc["user_id"],
        username=doc["username"],
        token_hash=doc["token_hash"],
        created_at=as_utc(doc["created_at"]),
        expires_at=as_utc(doc["expires_at"]),
    )


class InMemorySessions:
    """A SessionStore double for unit tests; ``lookups`` counts store round trips."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sessions: dict[str, SessionRecord] = {}
        self.lookups = 0

    def create(self, session: SessionRecord) -> None:
        with self._lock:
            self.sessions[session.session_id] = session

    def get(self, session_id: str) -> SessionRecord | None:
        self.lookups += 1
        return self.sessions.get(session_id)

    def get_many(self, session_ids: Iterable[str]) -> dict[str, SessionRecord]:
        self.lookups += 1
        return {s: self.sessions[s] for s in session_ids if s in self.sessions}

    def extend(self, session_id: str, expires_at: datetime) -> bool:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return False
            self.sessions[session_id] = replace(session, expires_at=expires_at)
            return True

    def delete(self, session_id: str) -> bool:
        with self._lock:
            return self.sessions.pop(session_id, None) is not None

    def purge_expired(self, now: datetime) -> int:
        with self._lock:
            expired = [s for s, rec in self.sessions.items() if rec.expired(now)]
            for session_id in expired:
                del self.sessions[session_id]
        return len(expired)
