"""Server handlers through ServerService, over in-memory stores (no broker, no MongoDB)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, TypeVar

import pytest

from bluetrack.config import Settings
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import MAX_REPLY_BYTES, decode, encode
from bluetrack.protocol.envelope import Reply, Request, new_id
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.messages import (
    Account,
    Credentials,
    LoginReply,
    LoginRequest,
    RegisterReply,
    RegisterRequest,
    Registration,
    SessionAuthReply,
    SessionAuthRequest,
    SessionSecrets,
    SongsReply,
    SongsRequest,
)
from bluetrack.protocol.plays import AcceptedPlay
from bluetrack.protocol.registry import BY_REQUEST_MODEL, BY_REQUEST_TOPIC
from bluetrack.protocol.topics import Topic
from bluetrack.server.catalogue_cache import CatalogueCache
from bluetrack.server.handlers import REGISTRY
from bluetrack.server.outcome import Outgoing
from bluetrack.server.service import ServerService
from bluetrack.server.testing import (
    ServerUnderTest,
    auth_proof,
    reply_keypair,
    seal_for,
    seal_model_for,
    server_under_test,
)

R = TypeVar("R", bound=Reply)
CLIENT = "client-0001"
PASSWORD = "correct horse battery"


@pytest.fixture
def server() -> ServerUnderTest:
    return server_under_test(Settings(bcrypt_cost=4, login_max_failures=3, songs_genres=3))


def send(server: ServerUnderTest, request: Request) -> list[Outgoing]:
    exchange = BY_REQUEST_MODEL[type(request)]
    return ServerService(server.ctx).handle(
        exchange.request_topic, request.client_id, encode(request)
    )


def call(server: ServerUnderTest, request: Request, reply_type: type[R]) -> R:
    exchange = BY_REQUEST_MODEL[type(request)]
    replies = [r for r in send(server, request) if r.topic == exchange.reply_topic]
    assert len(replies) == 1
    assert replies[0].key == request.client_id, "replies are keyed by the client id"
    return decode(replies[0].value, reply_type, max_bytes=MAX_REPLY_BYTES)


class Registered:
    """A register reply and the account it sealed to the client's reply key (None if none)."""

    def __init__(self, reply: RegisterReply, account: Account | None) -> None:
        self.reply = reply
        self.account = account
        self.ok = reply.ok
        self.error = reply.error


def register(
    server: ServerUnderTest,
    username: str = "alice",
    email: str = "alice@example.com",
    password: str = PASSWORD,
    client_id: str = CLIENT,
    request_id: str | None = None,
) -> Registered:
    private, public = reply_keypair()
    request = RegisterRequest(
        request_id=request_id or new_id(),
        client_id=client_id,
        sealed_registration=seal_model_for(
            server.keys, Registration(username=username, email=email, password=password)
        ),
        reply_key=public,
    )
    reply = call(server, request, RegisterReply)
    sealed = reply.sealed_account
    return Registered(reply, sealing.unseal_model(private, sealed, Account) if sealed else None)


class LoggedIn:
    def __init__(self, reply: LoginReply, secrets: SessionSecrets) -> None:
        self.reply = reply
        self.secrets = secrets
        self.session_id = secrets.session_id
        self.token = sealing.b64decode(secrets.token)
        self.play_key = sealing.b64decode(secrets.play_key)


def login_request(
    server: ServerUnderTest, login: str, password: str, client_id: str, reply_key: str
) -> LoginRequest:
    return LoginRequest(
        client_id=client_id,
        sealed_credentials=seal_model_for(server.keys, Credentials(login=login, password=password)),
        reply_key=reply_key,
    )


def login_reply(
    server: ServerUnderTest, login: str = "alice", password: str = PASSWORD, client_id: str = CLIENT
) -> tuple[LoginReply, str]:
    private, public = reply_keypair()
    reply = call(server, login_request(server, login, password, client_id, public), LoginReply)
    opened = sealing.unseal(private, reply.sealed_session).decode() if reply.sealed_session else ""
    return reply, opened


def login(server: ServerUnderTest, login: str = "alice", password: str = PASSWORD) -> LoggedIn:
    reply, opened = login_reply(server, login, password)
    assert reply.ok, reply.error
    return LoggedIn(reply, SessionSecrets.model_validate_json(opened))


def session_request(
    server: ServerUnderTest,
    session: LoggedIn,
    action: Literal["validate", "logout"] = "validate",
    *,
    token: bytes | None = None,
    proof_request_id: str | None = None,
    issued_at: datetime | None = None,
) -> SessionAuthRequest:
    """A session_auth request whose proof may be spoiled in one way for a test."""
    request_id = new_id()
    sealed = auth_proof(
        server.keys,
        session.token if token is None else token,
        proof_request_id or request_id,
        CLIENT,
        issued_at or server.clock.now(),
    )
    return SessionAuthRequest(
        request_id=request_id,
        client_id=CLIENT,
        session_id=session.session_id,
        sealed_auth=sealed,
        action=action,
    )


def songs_request(server: ServerUnderTest, session_id: str, token: bytes) -> SongsRequest:
    request_id = new_id()
    return SongsRequest(
        request_id=request_id,
        client_id=CLIENT,
        session_id=session_id,
        sealed_auth=auth_proof(server.keys, token, request_id, CLIENT, server.clock.now()),
    )


def error_code(reply: Reply | Registered) -> ErrorCode | None:
    return reply.error.code if reply.error else None


# --- the registry -----------------------------------------------------------------------------
def test_every_request_topic_has_exactly_one_handler() -> None:
    assert set(REGISTRY) == set(BY_REQUEST_TOPIC)


# --- register_user ----------------------------------------------------------------------------
def test_register_creates_a_user_with_a_base64_bcrypt_hash(server: ServerUnderTest) -> None:
    account = register(server).account
    assert account is not None and account.username == "alice" and account.user_id
    stored = server.users.by_username("alice")
    assert stored is not None and stored.user_id == account.user_id
    assert sealing.b64decode(stored.password_hash).startswith(b"$2b$04$")
    assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize("name", ["alice", "ALICE", "Alice"])
def test_duplicate_username_in_any_case_is_refused(server: ServerUnderTest, name: str) -> None:
    register(server)
    reply = register(server, username=name, email="other@example.com")
    assert error_code(reply) is ErrorCode.USERNAME_TAKEN


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"])
def test_duplicate_email_in_any_case_is_refused(server: ServerUnderTest, email: str) -> None:
    register(server)
    reply = register(server, username="bob", email=email)
    assert error_code(reply) is ErrorCode.EMAIL_TAKEN


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"username": "al"}, ErrorCode.INVALID_USERNAME),
        ({"username": "x" * 33}, ErrorCode.INVALID_USERNAME),
        ({"username": "bad name"}, ErrorCode.INVALID_USERNAME),
        ({"email": "not-an-email"}, ErrorCode.INVALID_EMAIL),
        ({"password": "short"}, ErrorCode.WEAK_PASSWORD),
    ],
)
def test_invalid_registrations_say_which_rule(
    server: ServerUnderTest, fields: dict[str, str], code: ErrorCode
) -> None:
    reply = register(server, **fields)
    assert error_code(reply) is code
    assert reply.error is not None and reply.error.message
    assert not server.users.by_id


def test_an_account_not_sealed_to_the_server_key_is_refused_and_dead_lettered(
    server: ServerUnderTest,
) -> None:
    other = server_under_test()
    registration = Registration(username="alice", email="alice@example.com", password=PASSWORD)
    request = RegisterRequest(
        client_id=CLIENT,
        sealed_registration=seal_model_for(other.keys, registration),
        reply_key=reply_keypair()[1],
    )
    records = send(server, request)
    assert error_code(decode(records[0].value, RegisterReply)) is ErrorCode.DECRYPTION_FAILED
    assert [r.topic for r in records] == [Topic.REGISTER_USER_RESPONSE, Topic.DEAD_LETTER]
    assert b"alice" not in b"".join(r.value for r in records)
    assert not server.users.by_id


@pytest.mark.parametrize(
    "inside", [b"alice:correct horse battery", b'{"login": "alice", "password": "x"}', b""]
)
def test_a_box_holding_something_else_is_refused_without_quoting_it(
    server: ServerUnderTest, inside: bytes
) -> None:
    request = RegisterRequest(
        client_id=CLIENT,
        sealed_registration=seal_for(server.keys, inside),
        reply_key=reply_keypair()[1],
    )
    records = send(server, request)
    reply = decode(records[0].value, RegisterReply)
    assert error_code(reply) is ErrorCode.INVALID_MESSAGE and reply.sealed_account is None
    assert [r.topic for r in records] == [Topic.REGISTER_USER_RESPONSE, Topic.DEAD_LETTER]
    assert b"alice" not in b"".join(r.value for r in records)


def test_replies_name_nobody_in_the_clear(server: ServerUnderTest) -> None:
    """The account and session ids come back sealed to the request's reply key only."""
    registered = register(server)
    session = login(server)
    assert registered.account is not None
    assert session.secrets.user_id == registered.account.user_id
    assert session.secrets.username == "alice"
    validated = send(server, session_request(server, session))
    logged_out = send(server, session_request(server, session, "logout"))
    replies = [encode(registered.reply), encode(session.reply)] + [
        r.value for r in validated + logged_out if r.topic != Topic.PLAYS_ACCEPTED
    ]
    for clear in ("alice", registered.account.user_id, session.session_id):
        assert not [r for r in replies if clear.encode() in r], clear


def test_registration_spam_is_rate_limited_per_client(server: ServerUnderTest) -> None:
    limit = server.ctx.settings.register_per_client_per_minute
    for i in range(limit):
        assert register(server, f"user{i}", f"user{i}@example.com").ok
    reply = register(server, "onemore", "onemore@example.com")
    assert error_code(reply) is ErrorCode.RATE_LIMITED
    assert reply.error is not None and reply.error.retry_after_s
    assert register(server, "other1", "other1@example.com", client_id="client-0002").ok
    server.clock.advance(60)
    assert register(server, "onemore", "onemore@example.com").ok


def test_a_redelivered_registration_succeeds_again(server: ServerUnderTest) -> None:
    first = register(server, request_id="request-0001").account
    again = register(server, request_id="request-0001").account
    assert first is not None and again is not None and again.user_id == first.user_id


# --- login_user -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["alice", "ALICE", "alice@example.com", "Alice@EXAMPLE.com"])
def test_login_by_name_or_email_in_any_case(server: ServerUnderTest, name: str) -> None:
    user = register(server).account
    session = login(server, name)
    assert user is not None and session.secrets.user_id == user.user_id
    assert session.secrets.username == "alice"
    assert len(session.token) == 32 and len(session.play_key) == 32
    assert session.play_key == sealing.play_key_for(server.keys.master_secret, session.session_id)
    stored = server.sessions.sessions[session.session_id]
    assert stored.token_hash == sealing.token_hash(session.token)
    assert session.reply.expires_at == server.clock.now() + timedelta(
        seconds=server.ctx.settings.session_ttl_s
    )


def test_several_sessions_per_user(server: ServerUnderTest) -> None:
    register(server)
    assert login(server).session_id != login(server).session_id
    assert len(server.sessions.sessions) == 2


@pytest.mark.parametrize(("name", "password"), [("alice", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_password_and_unknown_user_look_the_same(
    server: ServerUnderTest, name: str, password: str
) -> None:
    register(server)
    reply, opened = login_reply(server, name, password)
    assert error_code(reply) is ErrorCode.INVALID_CREDENTIALS
    assert reply.error is not None and reply.error.message == "wrong username, e-mail or password"
    assert reply.sealed_session is None and opened == ""


def test_failed_logins_are_throttled_with_a_growing_delay(server: ServerUnderTest) -> None:
    register(server)
    for _ in range(3):
        assert (
            error_code(login_reply(server, "alice", "nope nope")[0])
            is ErrorCode.INVALID_CREDENTIALS
        )
    throttled, _ = login_reply(server, "alice", PASSWORD)  # even the right password waits
    assert error_code(throttled) is ErrorCode.THROTTLED
    assert throttled.error is not None and throttled.error.retry_after_s == pytest.approx(1.0)
    server.clock.advance(1.0)
    assert error_code(login_reply(server, "alice", "nope nope")[0]) is ErrorCode.INVALID_CREDENTIALS
    second, _ = login_reply(server, "alice", PASSWORD)
    assert second.error is not None and second.error.retry_after_s == pytest.approx(2.0)
    server.clock.advance(2.0)
    assert login(server).reply.ok, "the owner gets in once the delay has passed"


def test_the_throttle_is_per_account_from_any_client(server: ServerUnderTest) -> None:
    register(server)
    for i in range(4):
        login_reply(server, "alice", "nope nope", client_id=f"client-{i:04d}")
    reply, _ = login_reply(server, "alice", PASSWORD, client_id="client-9999")
    assert error_code(reply) is ErrorCode.THROTTLED


def test_the_throttle_is_per_client_across_accounts(server: ServerUnderTest) -> None:
    for i in range(4):
        login_reply(server, f"victim{i}", "nope nope")
    register(server, client_id="client-0002")
    reply, _ = login_reply(server, "alice", PASSWORD)
    assert error_code(reply) is ErrorCode.THROTTLED


def test_unknown_users_are_throttled_like_real_ones(server: ServerUnderTest) -> None:
    codes = [
        error_code(login_reply(server, "ghost", "nope nope", client_id=f"client-{i:04d}")[0])
        for i in range(5)
    ]
    assert codes[-1] is ErrorCode.THROTTLED


def test_a_bad_reply_key_is_refused_before_any_work(server: ServerUnderTest) -> None:
    register(server)
    request = login_request(server, "alice", PASSWORD, CLIENT, "AAAA")
    assert error_code(call(server, request, LoginReply)) is ErrorCode.INVALID_MESSAGE
    assert not server.sessions.sessions


# --- session_auth -----------------------------------------------------------------------------
def test_validate_refreshes_the_expiry(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    server.clock.advance(3600)
    reply = call(server, session_request(server, session), SessionAuthReply)
    assert reply.ok and reply.action == "validate"
    ttl = timedelta(seconds=server.ctx.settings.session_ttl_s)
    assert reply.expires_at == server.clock.now() + ttl
    assert server.sessions.sessions[session.session_id].expires_at == server.clock.now() + ttl


def test_an_expired_session_is_refused(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    server.clock.advance(server.ctx.settings.session_ttl_s + 1)
    reply = call(server, session_request(server, session), SessionAuthReply)
    assert error_code(reply) is ErrorCode.SESSION_EXPIRED


def test_a_wrong_token_is_an_invalid_session(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    reply = call(server, session_request(server, session, token=b"\x00" * 32), SessionAuthReply)
    assert error_code(reply) is ErrorCode.INVALID_SESSION


def test_a_proof_for_another_request_is_refused_and_dead_lettered(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    request = session_request(server, session, proof_request_id="someone-elses-request")
    records = send(server, request)
    reply = decode(records[0].value, SessionAuthReply)
    assert error_code(reply) is ErrorCode.INVALID_SESSION
    assert [r.topic for r in records] == [Topic.SESSION_AUTH_RESPONSE, Topic.DEAD_LETTER]


def test_a_stale_proof_is_refused(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    old = server.clock.now() - timedelta(seconds=server.ctx.settings.clock_skew_s + 1)
    reply = call(server, session_request(server, session, issued_at=old), SessionAuthReply)
    assert error_code(reply) is ErrorCode.REPLAYED


def test_a_replayed_request_is_refused(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    request = session_request(server, session)
    assert call(server, request, SessionAuthReply).ok
    assert error_code(call(server, request, SessionAuthReply)) is ErrorCode.REPLAYED


def test_logout_revokes_the_session_and_closes_the_users_play(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    other = login(server)
    records = send(server, session_request(server, session, "logout"))
    reply = decode(records[0].value, SessionAuthReply)
    assert reply.ok and reply.action == "logout"
    assert session.session_id not in server.sessions.sessions
    assert other.session_id in server.sessions.sessions, "only that one session ends"
    plays = [r for r in records if r.topic == Topic.PLAYS_ACCEPTED]
    user_id = session.secrets.user_id
    assert len(plays) == 1 and plays[0].key == user_id
    logout = decode(plays[0].value, AcceptedPlay)
    assert logout.operation_type == "logout" and logout.user_id == user_id
    after = call(server, session_request(server, session), SessionAuthReply)
    assert error_code(after) is ErrorCode.INVALID_SESSION


# --- songs_update -----------------------------------------------------------------------------
def test_songs_for_a_valid_session(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    reply = call(server, songs_request(server, session.session_id, session.token), SongsReply)
    assert reply.ok
    assert len(reply.shelves) == 3
    assert all(len(s.tracks) == server.ctx.settings.songs_per_genre for s in reply.shelves)
    assert len({s.genre for s in reply.shelves}) == 3


def test_no_songs_for_an_invalid_session(server: ServerUnderTest) -> None:
    reply = call(server, songs_request(server, "no-such-session", b"\x01" * 32), SongsReply)
    assert error_code(reply) is ErrorCode.INVALID_SESSION
    assert reply.shelves == []


def test_known_sessions_are_checked_without_a_store_round_trip(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    lookups = server.sessions.lookups
    for _ in range(5):
        assert call(server, songs_request(server, session.session_id, session.token), SongsReply).ok
    assert server.sessions.lookups == lookups


def test_validate_sees_a_logout_done_by_another_server_process(server: ServerUnderTest) -> None:
    register(server)
    session = login(server)
    server.sessions.delete(session.session_id)  # as another process's logout would
    reply = call(server, session_request(server, session), SessionAuthReply)
    assert error_code(reply) is ErrorCode.INVALID_SESSION
    songs = call(server, songs_request(server, session.session_id, session.token), SongsReply)
    assert error_code(songs) is ErrorCode.INVALID_SESSION, "and the cache now knows it too"


def test_songs_from_the_in_memory_catalogue(server: ServerUnderTest) -> None:
    server.ctx.songs = CatalogueCache(server.songs.tracks)
    register(server)
    session = login(server)
    reply = call(server, songs_request(server, session.session_id, session.token), SongsReply)
    assert reply.ok and len(reply.shelves) == 3
    assert all(shelf.genre in track.genres for shelf in reply.shelves for track in shelf.tracks)
