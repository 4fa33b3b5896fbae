"""Request and reply models, one pair per request topic.

Secrets and identities never travel in the clear. A reader of every topic must learn
neither a password or token nor who is behind an id, so:

* account requests seal the whole account -- username, e-mail (or login name) and password
  -- to the server's public key, and keep in the clear only what routing needs;
* replies that name the account (its user id, username, session id) seal that to the
  ephemeral ``reply_key`` the client sent with the request, next to the session's secrets.

See ``bluetrack.protocol.sealing`` and docs/security.md ("Who listened to what").
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bluetrack.protocol.envelope import Base64, Identifier, Message, Reply, Request, UtcDateTime

# Loose bounds here; the domain rules (3-32 chars, e-mail syntax, ...) live in core.validation
# so the error reply can name the exact rule that failed.
Username = Field(min_length=1, max_length=128)
Email = Field(min_length=1, max_length=320)
Login = Field(min_length=1, max_length=320, description="username or e-mail")
# Long enough for core.validation to word "at most 72 bytes"; the box's size bounds it anyway.
Password = Field(max_length=1024)
ReplyKey = Field(description="ephemeral Curve25519 public key the reply is sealed to")


class Sealed(BaseModel):
    """What a sealed box opens to: strict like every message, but with no envelope."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=4096)


# --- register_user ----------------------------------------------------------------------------
class Registration(Sealed):
    """What ``RegisterRequest.sealed_registration`` opens to (only the server can)."""

    username: str = Username
    email: str = Email
    password: str = Password


class RegisterRequest(Request):
    type: Literal["register_user"] = "register_user"
    sealed_registration: Base64
    reply_key: Base64 = ReplyKey


class Account(Sealed):
    """What ``RegisterReply.sealed_account`` opens to (only the registering client can)."""

    user_id: Identifier
    username: str = Username


class RegisterReply(Reply):
    type: Literal["register_user_response"] = "register_user_response"
    sealed_account: Base64 | None = None


# --- login_user -------------------------------------------------------------------------------
class Credentials(Sealed):
    """What ``LoginRequest.sealed_credentials`` opens to (only the server can)."""

    login: str = Login
    password: str = Password


class LoginRequest(Request):
    type: Literal["login_user"] = "login_user"
    sealed_credentials: Base64
    reply_key: Base64 = ReplyKey


class SessionSecrets(Sealed):
    """What ``LoginReply.sealed_session`` opens to; only the requesting client can read it.

    The ids are here, not in the clear, so no reader of the reply topic can tie this
    session (and so its plays) to the login it answers.
    """

    user_id: Identifier
    username: str = Username
    session_id: Identifier
    token: Base64  # 256-bit bearer token, server keeps only its hash
    play_key: Base64  # HMAC key proving play events come from this session


class LoginReply(Reply):
    type: Literal["login_user_response"] = "login_user_response"
    expires_at: UtcDateTime | None = None
    sealed_session: Base64 | None = None


# --- session_auth (validate / refresh, or logout) ---------------------------------------------
class AuthProof(Sealed):
    """Opened from ``sealed_auth``: binds the token to this one request, so a copied box
    cannot be replayed with another request id or client."""

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
    """No ids and no name: the client knows its session, and a reader must not learn whose
    session the request's ``session_id`` is."""

    type: Literal["session_auth_response"] = "session_auth_response"
    action: Literal["validate", "logout"] = "validate"
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
