"""Error codes that cross Kafka as data: a code for machines, a message for people."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ErrorCode(StrEnum):
    # malformed input
    INVALID_MESSAGE = "invalid_message"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_TYPE = "unknown_type"
    MESSAGE_TOO_LARGE = "message_too_large"
    # registration
    INVALID_USERNAME = "invalid_username"
    INVALID_EMAIL = "invalid_email"
    WEAK_PASSWORD = "weak_password"
    USERNAME_TAKEN = "username_taken"
    EMAIL_TAKEN = "email_taken"
    # login and sessions
    INVALID_CREDENTIALS = "invalid_credentials"
    THROTTLED = "throttled"
    RATE_LIMITED = "rate_limited"
    INVALID_SESSION = "invalid_session"
    SESSION_EXPIRED = "session_expired"
    DECRYPTION_FAILED = "decryption_failed"
    REPLAYED = "replayed"
    # play events
    FORGED_EVENT = "forged_event"
    UNKNOWN_TRACK = "unknown_track"
    GENRE_MISMATCH = "genre_mismatch"
    BAD_EVENT_TIME = "bad_event_time"
    DUPLICATE_EVENT = "duplicate_event"
    # the system itself
    INTERNAL_ERROR = "internal_error"
    UNAVAILABLE = "unavailable"
    LATE_EVENT = "late_event"


class ErrorInfo(BaseModel):
    """The error part of a reply or a dead letter. Never a stack trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: ErrorCode
    message: str = Field(max_length=500)
    retry_after_s: float | None = Field(default=None, ge=0)
