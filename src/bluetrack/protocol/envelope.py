"""The envelope every message shares: schema version, type, and request/reply correlation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from bluetrack.protocol.errors import ErrorInfo

SCHEMA_VERSION = 1

# Ids are opaque to the server but bounded, so a hostile one cannot bloat logs or keys.
Identifier = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
# Curve25519 public keys and sealed boxes travel as standard base64.
Base64 = Annotated[str, Field(min_length=4, max_length=4096, pattern=r"^[A-Za-z0-9+/]+={0,2}$")]


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone (UTC, e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a Z, the one timestamp format on the wire."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_require_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every message: strict about unknown fields so typos and injections are caught."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=4096)

    version: int = SCHEMA_VERSION
    type: str


class Request(Message):
    """A request: the reply comes back on the paired topic, keyed by ``client_id``."""

    request_id: Identifier = Field(default_factory=new_id)
    client_id: Identifier


class Reply(Message):
    """A reply: same ``request_id`` as its request; ``ok`` false means ``error`` says why."""

    request_id: Identifier
    client_id: Identifier
    ok: bool
    error: ErrorInfo | None = None
