"""One handler per request topic, and REGISTRY mapping the topic to it.

A handler takes the context and a decoded request and returns the reply (or an Outcome
when the request causes more than a reply). Expected refusals are raised as ``Rejected``;
``service`` turns them into error replies, so each handler reads as its happy path.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bluetrack.core import validation
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import MAX_REPLY_BYTES, encode
from bluetrack.protocol.envelope import Reply, new_id
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import SealedContentError, SealError
from bluetrack.protocol.messages import (
    Account,
    Credentials,
    LoginReply,
    LoginRequest,
    RegisterReply,
    RegisterRequest,
    Registration,
    Sealed,
    SessionAuthReply,
    SessionAuthRequest,
    SessionSecrets,
    SongsReply,
    SongsRequest,
)
from bluetrack.protocol.plays import AcceptedPlay
from bluetrack.protocol.topics import Topic
from bluetrack.server.catalogue_cache import CatalogueCache
from bluetrack.server.context import ServerContext
from bluetrack.server.exceptions import Rejected
from bluetrack.server.outcome import Outcome, Outgoing
from bluetrack.server.session_cache import LiveSession
from bluetrack.store.sessions import SessionRecord
from bluetrack.store.users import AccountTaken, UserRecord

Handler = Callable[[ServerContext, Any], Reply | Outcome]
S = TypeVar("S", bound=Sealed)

_TAKEN = {"username": ErrorCode.USERNAME_TAKEN, "email": ErrorCode.EMAIL_TAKEN}
_INVALID_CREDENTIALS = "wrong username, e-mail or password"


# --- register_user ----------------------------------------------------------------------------
def register_user(ctx: ServerContext, request: RegisterRequest) -> RegisterReply:
    wait = ctx.registrations.acquire(f"client:{request.client_id}")
    if wait > 0:
        raise Rejected(
            ErrorCode.RATE_LIMITED,
            f"too many registrations from this client: try again in {math.ceil(wait)} s",
            retry_after_s=wait,
        )
    _check_reply_key(request.reply_key)
    wanted = _open(ctx, request.sealed_registration, Registration)
    email = validation.normalize_email(wanted.email)
    for violation in (
        validation.check_username(wanted.username),
        validation.check_email(email),
        validation.check_password(wanted.password),
    ):
        if violation is not None:
            raise Rejected(violation.code, violation.message)

    # Checked before hashing so a taken name costs no bcrypt; the unique indexes decide races.
    if (earlier := _registered_by(ctx, request, wanted)) is not None:
        return _registered(request, earlier)
    user = UserRecord(
        user_id=new_id(),
        username=wanted.username,
        email=email,
        password_hash=ctx.passwords.hash(wanted.password),
        created_at=ctx.now(),
        created_by_request=request.request_id,
    )
    try:
        ctx.users.create(user)
    except AccountTaken as exc:
        raise Rejected(_TAKEN[exc.field], str(exc)) from exc
    return _registered(request, user)


def _registered_by(
    ctx: ServerContext, request: RegisterRequest, wanted: Registration
) -> UserRecord | None:
    """The account this very request created before (a redelivery), else None.

    Raises Rejected if the name or e-mail belongs to someone else.
    """
    by_name = ctx.users.by_username(wanted.username)
    if by_name is not None:
        if by_name.created_by_request == request.request_id:
            return by_name
        raise Rejected(ErrorCode.USERNAME_TAKEN, "that username is already registered")
    if ctx.users.by_email(wanted.email) is not None:
        raise Rejected(ErrorCode.EMAIL_TAKEN, "that e-mail address is already registered")
    return None


def _registered(request: RegisterRequest, user: UserRecord) -> RegisterReply:
    account = Account(user_id=user.user_id, username=user.username)
    return RegisterReply(
        request_id=request.request_id,
        client_id=request.client_id,
        ok=True,
        sealed_account=sealing.seal_model(request.reply_key, account),
    )


def _open(ctx: ServerContext, sealed: str, model: type[S]) -> S:
    """The account part of a request, opened with the server's key.

    A box that does not open, or holds something else, looks like tampering (or a stale
    server key): the client gets the reason and operators a dead letter, as for a session
    proof. Neither message quotes what was inside.
    """
    try:
        return sealing.unseal_model(ctx.keys.private_key, sealed, model)
    except SealError as exc:
        raise Rejected(
            ErrorCode.DECRYPTION_FAILED,
            "the sealed account does not open with the server's key: fetch the key again",
            dead_letter=True,
        ) from exc
    except SealedContentError as exc:
        raise Rejected(exc.code, str(exc), dead_letter=True) from exc


# --- login_user -------------------------------------------------------------------------------
def login_user(ctx: ServerContext, request: LoginRequest) -> LoginReply:
    _check_reply_key(request.reply_key)
    credentials = _open(ctx, request.sealed_credentials, Credentials)
    user = _find_user(ctx, credentials.login)
    # Unknown logins are throttled under their own name, exactly like real accounts, so the
    # throttle does not reveal which accounts exist either.
    account = f"user:{user.user_id}" if user else f"login:{_login_key(credentials.login)}"
    client = f"client:{request.client_id}"
    wait = ctx.login_failures.attempt(account, client)
    if wait > 0:
        raise Rejected(
            ErrorCode.THROTTLED,
            f"too many failed logins: try again in {math.ceil(wait)} s",
            retry_after_s=wait,
        )
    # An unknown user is checked against a dummy hash: the same bcrypt cost as a real one.
    password = credentials.password
    if not ctx.passwords.verify(password, user.password_hash if user else None) or user is None:
        raise Rejected(ErrorCode.INVALID_CREDENTIALS, _INVALID_CREDENTIALS)
    ctx.login_failures.succeeded(clear=account, forgive=client)
    session, token = _open_session(ctx, user)
    secrets = SessionSecrets(
        user_id=user.user_id,
        username=user.username,
        session_id=session.session_id,
        token=sealing.b64encode(token),
        play_key=sealing.b64encode(
            sealing.play_key_for(ctx.keys.master_secret, session.session_id)
        ),
    )
    return LoginReply(
        request_id=request.request_id,
        client_id=request.client_id,
        ok=True,
        expires_at=session.expires_at,
        sealed_session=sealing.seal_model(request.reply_key, secrets),
    )


def _check_reply_key(reply_key: str) -> None:
    """Refuse a useless reply key before spending a bcrypt (or an account, or a session)."""
    try:
        valid = len(sealing.b64decode(reply_key)) == 32
    except SealError:
        valid = False
    if not valid:
        raise Rejected(ErrorCode.INVALID_MESSAGE, "reply_key is not a Curve25519 public key")


def _login_key(login: str) -> str:
    if validation.is_email_login(login):
        return validation.email_key(login)
    return validation.username_key(login)


def _find_user(ctx: ServerContext, login: str) -> UserRecord | None:
    if validation.is_email_login(login):
        return ctx.users.by_email(login)
    return ctx.users.by_username(login)


def _open_session(ctx: ServerContext, user: UserRecord) -> tuple[SessionRecord, bytes]:
    token = sealing.new_token()
    now = ctx.now()
    session = SessionRecord(
        session_id=new_id(),
        user_id=user.user_id,
        username=user.username,
        token_hash=sealing.token_hash(token),
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.session_ttl_s),
    )
    ctx.sessions.create(session)
    ctx.session_cache.remember(session)
    return session, token


# --- session_auth -----------------------------------------------------------------------------
def session_auth(ctx: ServerContext, request: SessionAuthRequest) -> SessionAuthReply | Outcome:
    session = ctx.auth.authenticate(request)
    if request.action == "logout":
        return _logout(ctx, request, session)
    expires_at = ctx.now() + timedelta(seconds=ctx.settings.session_ttl_s)
    # The store decides: another server process may have logged this session out.
    if not ctx.sessions.extend(session.session_id, expires_at):
        ctx.session_cache.invalidate(session.session_id)
        raise Rejected(ErrorCode.INVALID_SESSION, "no such session: please log in again")
    ctx.session_cache.extended(session.session_id, expires_at)
    return _session_reply(request, expires_at)


def _logout(ctx: ServerContext, request: SessionAuthRequest, session: LiveSession) -> Outcome:
    ctx.sessions.delete(session.session_id)
    ctx.session_cache.invalidate(session.session_id)
    now = ctx.now()
    # The stream processor closes the user's active play on this. The event id derives
    # from the session, so a redelivered logout is the same event, counted once downstream.
    logout = AcceptedPlay(
        event_id="logout-" + hashlib.sha256(session.session_id.encode()).hexdigest()[:32],
        user_id=session.user_id,
        track_id="",
        operation_type="logout",
        start_time=now,
        event_time=now,
        duration_ms=0,
        genre="",
        accepted_at=now,
    )
    return Outcome(
        _session_reply(request, now),
        (Outgoing(Topic.PLAYS_ACCEPTED, session.user_id, encode(logout), before_reply=True),),
    )


def _session_reply(request: SessionAuthRequest, expires_at: datetime) -> SessionAuthReply:
    """Names nobody: the client knows whose session it is, a reader must not learn it."""
    return SessionAuthReply(
        request_id=request.request_id,
        client_id=request.client_id,
        ok=True,
        action=request.action,
        expires_at=expires_at,
    )


# --- songs_update -----------------------------------------------------------------------------
def songs_update(ctx: ServerContext, request: SongsRequest) -> Outcome:
    ctx.auth.authenticate(request)
    n_genres = request.genres or ctx.settings.songs_genres
    per_genre = request.per_genre or ctx.settings.songs_per_genre
    if isinstance(ctx.songs, CatalogueCache):
        return _songs_from_fragments(
            request, ctx.songs.shelf_fragments(n_genres, per_genre, ctx.rng())
        )
    shelves = list(ctx.songs.random_shelves(n_genres, per_genre, ctx.rng()))
    reply = SongsReply(
        request_id=request.request_id, client_id=request.client_id, ok=True, shelves=shelves
    )
    encoded = encode(reply)
    # The largest request (114 genres x 50 tracks) would not fit a reply: send fewer shelves.
    while shelves and len(encoded) > MAX_REPLY_BYTES:
        shelves = shelves[: len(shelves) * 3 // 4]
        reply = reply.model_copy(update={"shelves": shelves})
        encoded = encode(reply)
    return Outcome(reply, encoded=encoded)


_EMPTY_SHELVES = b"[]}"


def _songs_from_fragments(request: SongsRequest, fragments: list[bytes]) -> Outcome:
    """The reply with its shelves spliced in as pre-encoded JSON (the hot path of songs_update).

    ``encoded`` is the reply that is sent; ``reply`` carries only its envelope. A unit test
    checks the bytes decode to the same SongsReply the model path builds.
    """
    envelope = SongsReply(request_id=request.request_id, client_id=request.client_id, ok=True)
    head = encode(envelope)
    assert head.endswith(b'"shelves":' + _EMPTY_SHELVES), "shelves must stay the last field"
    prefix = head[: -len(_EMPTY_SHELVES)]
    while True:
        encoded = prefix + b"[" + b",".join(fragments) + b"]}"
        if len(encoded) <= MAX_REPLY_BYTES or not fragments:
            return Outcome(envelope, encoded=encoded)
        fragments = fragments[: len(fragments) * 3 // 4]


REGISTRY: Mapping[Topic, Handler] = {
    Topic.REGISTER_USER: register_user,
    Topic.LOGIN_USER: login_user,
    Topic.SESSION_AUTH: session_auth,
    Topic.SONGS_UPDATE: songs_update,
}
