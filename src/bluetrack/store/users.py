"""User accounts in MongoDB (collection ``users``).

Uniqueness "ignoring case" is enforced by the database itself: unique indexes on the
normalised name and e-mail (FerretDB has unique indexes but no transactions, so a
check-then-insert alone would race between server processes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from bluetrack.core.validation import email_key, username_key
from bluetrack.errors import BlueTrackError
from bluetrack.store.database import index_hook

COLLECTION = "users"
USERNAME_INDEX = "username_key_unique"
EMAIL_INDEX = "email_key_unique"

Field = Literal["username", "email"]


class AccountTaken(BlueTrackError):
    """The username or e-mail address (ignoring case) belongs to another account."""

    def __init__(self, field: Field) -> None:
        super().__init__(f"that {field} is already registered")
        self.field: Field = field


@dataclass(frozen=True, slots=True)
class UserRecord:
    user_id: str
    username: str
    email: str
    password_hash: str  # base64 of the bcrypt hash string, as the seed stored it
    created_at: datetime
    created_by_request: str | None = None  # lets a redelivered registration succeed again


class UserStore(Protocol):
    def create(self, user: UserRecord) -> None:
        """Insert, or raise AccountTaken."""

    def by_username(self, username: str) -> UserRecord | None: ...

    def by_email(self, email: str) -> UserRecord | None: ...


def as_utc(value: datetime) -> datetime:
    """pymongo hands back naive datetimes unless the client is tz-aware; they are UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UserRepository:
    def __init__(self, db: Database[Any]) -> None:
        self._users = db[COLLECTION]

    def ensure_indexes(self) -> None:
        self._users.create_index("username_key", unique=True, name=USERNAME_INDEX)
        self._users.create_index("email_key", unique=True, name=EMAIL_INDEX)

    def create(self, user: UserRecord) -> None:
        try:
            self._users.insert_one(_to_doc(user))
        except DuplicateKeyError as exc:
            raise AccountTaken(self._taken_field(exc, user)) from exc

    def by_username(self, username: str) -> UserRecord | None:
        return _from_doc(self._users.find_one({"username_key": username_key(username)}))

    def by_email(self, email: str) -> UserRecord | None:
        return _from_doc(self._users.find_one({"email_key": email_key(email)}))

    def _taken_field(self, exc: DuplicateKeyError, user: UserRecord) -> Field:
        details = exc.details or {}
        described = f"{details.get('keyPattern', '')} {details.get('errmsg', '')} {exc}"
        if "email" in described and "username" not in described:
            return "email"
        if "username" in described and "email" not in described:
            return "username"
        # The server did not say which index: ask the collection.
        return "username" if self.by_username(user.username) is not None else "email"


@index_hook(COLLECTION)
def _ensure_users_indexes(db: Database[Any]) -> None:
    UserRepository(db).ensure_indexes()


def _to_doc(user: UserRecord) -> dict[str, Any]:
    return {
        "_id": user.user_id,
        "username": user.username,
        "username_key": username_key(user.username),
        "email": user.email,
        "email_key": email_key(user.email),
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "created_by_request": user.created_by_request,
    }


def _from_doc(doc: dict[str, Any] | None) -> UserRecord | None:
    if doc is None:
        return None
    return UserRecord(
        user_id=str(doc["_id"]),
        username=doc["username"],
        email=doc["email"],
        password_hash=doc["password_hash"],
        created_at=as_utc(doc["created_at"]),
        created_by_request=doc.get("created_by_request"),
    )


class InMemoryUsers:
    """A UserStore double with the same case-insensitive uniqueness, for unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_id: dict[str, UserRecord] = {}

    def create(self, user: UserRecord) -> None:
        with self._lock:
            if self.by_username(user.username) is not None:
                raise AccountTaken("username")
            if self.by_email(user.email) is not None:
                raise AccountTaken("email")
            self.by_id[user.user_id] = user

    def by_username(self, username: str) -> UserRecord | None:
        key = username_key(username)
        return next((u for u in self.by_id.values() if username_key(u.username) == key), None)

    def by_email(self, email: str) -> UserRecord | None:
        key = email_key(email)
        return next((u for u in self.by_id.values() if email_key(u.email) == key), None)
