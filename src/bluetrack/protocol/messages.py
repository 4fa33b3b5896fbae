"""Request and reply models, one pair per request topic.

Secrets never travel in the clear: passwords and session tokens go inside boxes sealed to
the server's public key, and a new session's secrets come back sealed to the ephemeral
``reply_key`` the client sent (see ``bluetrack.protocol.sealing`` and docs/security.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bluetrack.protocol.envelope import Base64, Identifier, Message, Reply, Request, UtcDateTime

# Loose bounds here; the domain rules (3-32 chars, e-mail syntax, ...) live in core.validation
# so the error reply can name the exact rule that failed.
Username = Field(min_length=1, max_length=128)
Email = Field(min_length=1, max_length=320)


# --- register_user ----------------------------------------------------------------------------
class RegisterRequest(Request):
    type: Literal["register_user"] = "register_user"
    username: str = Username
    email: str = Email
    sealed_password: Base64


class RegisterReply(Reply):
    type: Literal["register_user_response"] = "register_user_response"
    user_id: Identifier | None = None
    username: str | None = None


# --- login_user -------------------------------------------------------------------------------
class LoginRequest(Request):
    type: Literal["login_user"] = "login_user"
    login: str = Field(min_length=1, max_length=320, description="username or e-mail")
    sealed_password: Base64
    reply_key: Base64 = Field(description="ephemeral Curve25519 public key for sealed replies")


class SessionSecrets(BaseModel):
    """What ``LoginReply.sealed_session`` opens to; only the requesting client can read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: Base64  # 256-bit bearer token, server keeps only its hash
    play_key: Base64  # HMAC key proving play events come from this session


class LoginReply(Reply):
    type: Literal["login_user_response"] = "login_user_response"
    user_id: Identifier | None = None
    username: str | None = None
    session_id: Identifier | None = None
    expires_at: UtcDateTime | None = None
    sealed_session: Base64 | None = None


# --- session_auth (validate / refresh, or logout) ---------------------------------------------
class AuthProof(BaseModel):
    """Opened from ``sealed_auth``: binds the token to this one request, so a copied box
    cannot be replayed with another request id or client."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: Base64
    request_id: Identifier
    client_id: Identifier
    issued_at: UtcDateTime


class AuthenticatedRequest(Request):
    session_id: Identifier
    sealed_auth: Base64


class SessionAuthRequest(AuthenticatedRequest):
    type: Literal["session_auth"] = "session_auth"
    action: Literal["validate", "logout"] = "validate"


class SessionAuthReply(Reply):
    type: Literal["session_auth_response"] = "session_auth_response"
    action: Literal["validate", "logout"] = "validate"
    user_id: Identifier | None = None
    username: str | None = None
    session_id: Identifier | None = None
    expires_at: UtcDateTime | None = None


# --- songs_update -----------------------------------------------------------------------------
class TrackSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    track_id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=1000)
    artists: list[str] = Field(max_length=64)
    album: str = Field(max_length=1000)
    duration_ms: int = Field(ge=0)
    genres: list[str] = Field(default_factory=list, max_length=32)


class Shelf(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    genre: str = Field(min_length=1, max_length=64)
    tracks: list[TrackSummary]


class SongsRequest(AuthenticatedRequest):
    type: Literal["songs_update"] = "songs_update"
    genres: int | None = Field(default=None, ge=1, le=114)
    per_genre: int | None = Field(default=None, ge=1, le=50)


class SongsReply(Reply):
    type: Literal["songs_response"] = "songs_response"
    shelves: list[Shelf] = Field(default_factory=list)


# --- the server's public key (compacted topic) -------------------------------------------------
class ServerKey(Message):
    type: Literal["server_key"] = "server_key"
    public_key: Base64
    key_id: Identifier
    published_at: UtcDateTime
