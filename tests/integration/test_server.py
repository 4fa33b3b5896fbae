"""The server over real Kafka and FerretDB, spoken to through the real client protocol."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from server_harness import (
    import_test_catalogue,
    read_topic,
    running_server,
    server_settings,
    wait_for,
)

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.exceptions import RequestFailed
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import decode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import new_id, utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.frames import decode_frame
from bluetrack.protocol.plays import AcceptedPlay
from bluetrack.protocol.registry import EXCHANGES
from bluetrack.protocol.topics import TOPIC_SPECS, Topic
from bluetrack.server.catalogue_cache import CatalogueCache
from bluetrack.server.passwords import PasswordHasher
from bluetrack.server.runner import Server
from bluetrack.store.server_keys import load_or_create
from bluetrack.store.users import AccountTaken, UserRecord, UserRepository

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def db(mongo_client: Any) -> Iterator[Any]:
    name = f"test_server_{uuid.uuid4().hex[:12]}"
    import_test_catalogue(mongo_client[name])
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def settings(stack_settings: Settings, db: Any) -> Settings:
    return server_settings(stack_settings, db.name, songs_genres=3, songs_per_genre=4)


@pytest.fixture(scope="module")
def server(settings: Settings, db: Any) -> Iterator[Server]:
    with running_server(settings) as running:
        yield running


@pytest.fixture
def clients(settings: Settings, server: Server) -> Iterator[list[BlueTrackClient]]:
    """Append-only list; every client made through ``new_client`` is closed afterwards."""
    made: list[BlueTrackClient] = []
    yield made
    for client in made:
        client.close()


@pytest.fixture
def client(settings: Settings, clients: list[BlueTrackClient]) -> BlueTrackClient:
    made = BlueTrackClient(settings)
    clients.append(made)
    return made


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def register(client: BlueTrackClient, name: str | None = None) -> tuple[str, str]:
    name = name or unique()
    client.register(name, f"{name}@example.com", PASSWORD)
    return name, f"{name}@example.com"


def refused(call: Any, *args: Any) -> ErrorCode:
    with pytest.raises(RequestFailed) as failure:
        call(*args)
    return failure.value.info.code


# --- accounts ---------------------------------------------------------------------------------
def test_register(client: BlueTrackClient, db: Any) -> None:
    name = unique("Reg")
    account = client.register(name, f"{name}@Example.COM", PASSWORD)
    assert account.username == name and account.user_id
    stored = db.users.find_one({"_id": account.user_id})
    assert stored["email"] == f"{name}@example.com"
    assert base64.b64decode(stored["password_hash"]).startswith(b"$2b$04$")


def test_duplicate_name_and_email_in_any_case(client: BlueTrackClient) -> None:
    name, email = register(client)
    assert refused(client.register, name.upper(), "x" + email, PASSWORD) is ErrorCode.USERNAME_TAKEN
    assert refused(client.register, unique(), email.upper(), PASSWORD) is ErrorCode.EMAIL_TAKEN


def test_weak_password_and_bad_names_are_refused(client: BlueTrackClient) -> None:
    assert refused(client.register, unique(), "w@example.com", "short") is ErrorCode.WEAK_PASSWORD
    assert refused(client.register, "ab", "ab@example.com", PASSWORD) is ErrorCode.INVALID_USERNAME
    assert refused(client.register, unique(), "nope", PASSWORD) is ErrorCode.INVALID_EMAIL


def test_login_by_name_and_by_email(client: BlueTrackClient) -> None:
    name, email = register(client)
    by_name = client.login(name.upper(), PASSWORD)
    by_email = client.login(email, PASSWORD)
    assert by_name.user_id == by_email.user_id
    assert by_name.session_id != by_email.session_id, "several sessions per user"


def test_wrong_password(client: BlueTrackClient) -> None:
    name, _ = register(client)
    assert refused(client.login, name, "not the password") is ErrorCode.INVALID_CREDENTIALS
    assert refused(client.login, unique(), PASSWORD) is ErrorCode.INVALID_CREDENTIALS


def test_throttling(settings: Settings, clients: list[BlueTrackClient]) -> None:
    owner = BlueTrackClient(settings)
    attacker = BlueTrackClient(settings)
    clients.extend([owner, attacker])
    name, _ = register(owner)
    for _ in range(settings.login_max_failures):
        assert refused(attacker.login, name, "guess guess") is ErrorCode.INVALID_CREDENTIALS
    with pytest.raises(RequestFailed) as throttled:
        owner.login(name, PASSWORD)  # per account: the owner's client is throttled too
    assert throttled.value.info.code is ErrorCode.THROTTLED
    assert throttled.value.info.retry_after_s is not None
    assert 0 < throttled.value.info.retry_after_s <= settings.login_base_delay_s
    wait_for(lambda: _logs_in(owner, name), timeout_s=10, what="login after the delay")


def _logs_in(client: BlueTrackClient, name: str) -> bool:
    try:
        client.login(name, PASSWORD)
    except RequestFailed as exc:
        assert exc.info.code is ErrorCode.THROTTLED
        return False
    return True


def test_login_at_the_configured_bcrypt_cost(
    client: BlueTrackClient, server: Server, db: Any
) -> None:
    cost = Settings().bcrypt_cost
    assert server.ctx is not None
    fast = server.ctx.passwords
    server.ctx.passwords = PasswordHasher(cost)
    try:
        name, _ = register(client)
        assert client.login(name, PASSWORD).username == name
    finally:
        server.ctx.passwords = fast
    stored = db.users.find_one({"username": name})
    assert base64.b64decode(stored["password_hash"]).startswith(f"$2b${cost:02d}$".encode())


def test_slow_logins_do_not_stall_songs(
    settings: Settings, clients: list[BlueTrackClient], server: Server
) -> None:
    """Sixteen logins at the configured cost are in flight; songs still come back at once."""
    assert server.ctx is not None
    fast_hasher = server.ctx.passwords
    server.ctx.passwords = PasswordHasher(Settings().bcrypt_cost)
    loggers = [BlueTrackClient(settings) for _ in range(4)]
    reader = BlueTrackClient(settings)
    clients.extend([*loggers, reader])
    try:
        name, _ = register(reader)
        session = reader.login(name, PASSWORD)
        logins_done: list[float] = []

        def login_four_times(client: BlueTrackClient) -> None:
            for _ in range(4):
                client.login(name, PASSWORD)
            logins_done.append(time.monotonic())

        threads = [threading.Thread(target=login_four_times, args=(c,)) for c in loggers]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the logins are queued and hashing now
        began = time.monotonic()
        assert len(reader.songs(session)) == settings.songs_genres
        songs_done = time.monotonic()
        for thread in threads:
            thread.join(120)
    finally:
        server.ctx.passwords = fast_hasher
    assert len(logins_done) == 4
    assert songs_done < min(logins_done), "songs waited for the logins"
    assert songs_done - began < 2.0


# --- sessions ---------------------------------------------------------------------------------
def test_session_auth_validates_and_refreshes(client: BlueTrackClient) -> None:
    name, _ = register(client)
    session = client.login(name, PASSWORD)
    reply = client.validate(session)
    assert reply.ok and reply.action == "validate"
    assert reply.expires_at is not None and reply.expires_at >= session.expires_at


def test_expiry(client: BlueTrackClient, db: Any, server: Server, settings: Settings) -> None:
    name, _ = register(client)
    session = client.login(name, PASSWORD)
    past = session.expires_at - timedelta(days=2)
    db.sessions.update_one({"_id": session.session_id}, {"$set": {"expires_at": past}})
    time.sleep(2 * settings.session_recheck_s + 0.5)  # until the background re-read
    assert refused(client.validate, session) is ErrorCode.SESSION_EXPIRED
    assert refused(client.songs, session) is ErrorCode.SESSION_EXPIRED
    assert server.ctx is not None
    assert server.ctx.sessions.purge_expired(server.ctx.now()) >= 1
    assert db.sessions.find_one({"_id": session.session_id}) is None
    assert refused(client.validate, session) is ErrorCode.INVALID_SESSION


def test_logout(client: BlueTrackClient, settings: Settings) -> None:
    name, _ = register(client)
    session = client.login(name, PASSWORD)
    other = client.login(name, PASSWORD)
    assert client.logout(session).action == "logout"
    assert refused(client.validate, session) is ErrorCode.INVALID_SESSION
    assert client.validate(other).ok, "the user's other session lives on"

    def logout_play() -> list[AcceptedPlay]:
        plays = [
            play
            for m in read_topic(settings, Topic.PLAYS_ACCEPTED)
            for play in decode_frame(m.value())
        ]
        return [p for p in plays if p.user_id == session.user_id and p.operation_type == "logout"]

    assert len(wait_for(logout_play, what="the logout play")) == 1


def test_songs_for_a_valid_and_an_invalid_session(client: BlueTrackClient) -> None:
    name, _ = register(client)
    session = client.login(name, PASSWORD)
    shelves = client.songs(session)
    assert len(shelves) == 3 and all(len(shelf.tracks) == 4 for shelf in shelves)
    forged = Session(
        session.user_id,
        name,
        session.session_id,
        b"\x07" * 32,
        session.play_key,
        session.expires_at,
    )
    assert refused(client.songs, forged) is ErrorCode.INVALID_SESSION


# --- many clients, and what an eavesdropper sees -------------------------------------------------
def test_two_clients_at_once_each_get_only_their_own_replies(
    settings: Settings, clients: list[BlueTrackClient]
) -> None:
    pair = [BlueTrackClient(settings), BlueTrackClient(settings)]
    clients.extend(pair)
    names = [[unique(f"c{i}x") for _ in range(5)] for i in range(2)]
    errors: list[str] = []

    def work(client: BlueTrackClient, mine: list[str]) -> None:
        for name in mine:
            # Each reply opens with this client's one-time key: it was sealed for us.
            account = client.register(name, f"{name}@example.com", PASSWORD)
            session = client.login(name, PASSWORD)
            if account.username != name or session.username != name:
                errors.append(f"{client.client_id} got {account.username}/{session.username}")

    threads = [threading.Thread(target=work, args=(c, n)) for c, n in zip(pair, names, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors


def test_a_third_client_reading_every_topic_learns_no_secret(
    client: BlueTrackClient, settings: Settings, db: Any
) -> None:
    name, _ = register(client)
    secret_password = "s3cret-" + uuid.uuid4().hex
    client.register(name + "p", f"{name}p@example.com", secret_password)
    session = client.login(name + "p", secret_password)
    client.validate(session)
    client.songs(session)
    stored_hash = db.users.find_one({"username": name + "p"})["password_hash"]
    secrets = {
        "password": secret_password.encode(),
        "token": session.token,
        "token b64": sealing.b64encode(session.token).encode(),
        "token hex": session.token.hex().encode(),
        "play key b64": sealing.b64encode(session.play_key).encode(),
        "play key hex": session.play_key.hex().encode(),
        "password hash": stored_hash.encode(),
        "bcrypt string": base64.b64decode(stored_hash),
    }
    for spec in TOPIC_SPECS:
        for record in read_topic(settings, spec.topic):
            raw = (record.key() or b"") + b"|" + (record.value() or b"")
            leaked = [what for what, secret in secrets.items() if secret in raw]
            assert not leaked, f"{leaked} readable on {spec.topic}"


def test_the_unique_indexes_decide_a_registration_race(db: Any) -> None:
    """Two servers past the pre-check at once: the store itself refuses the second."""
    users = UserRepository(db)
    users.ensure_indexes()
    name = unique("Race")
    first = UserRecord(new_id(), name, f"{name}@example.com", "hash", utc_now())
    users.create(first)
    same_name = UserRecord(new_id(), name.upper(), f"other{name}@example.com", "hash", utc_now())
    same_email = UserRecord(new_id(), unique(), f"{name.upper()}@EXAMPLE.COM", "hash", utc_now())
    with pytest.raises(AccountTaken) as by_name:
        users.create(same_name)
    with pytest.raises(AccountTaken) as by_email:
        users.create(same_email)
    assert (by_name.value.field, by_email.value.field) == ("username", "email")


# --- several server processes ------------------------------------------------------------------
def test_concurrent_starts_share_one_server_key(mongo_client: Any) -> None:
    db = mongo_client[f"test_keys_{uuid.uuid4().hex[:12]}"]
    try:
        with ThreadPoolExecutor(8) as pool:
            keys = list(pool.map(lambda _: load_or_create(db), range(8)))
        assert len({k.key_id for k in keys}) == 1
        assert len({k.master_secret for k in keys}) == 1
    finally:
        mongo_client.drop_database(db.name)


def test_two_servers_share_the_load_and_the_key(
    settings: Settings, db: Any, server: Server, clients: list[BlueTrackClient]
) -> None:
    with running_server(settings) as second:
        assert second.ctx is not None and server.ctx is not None
        assert second.ctx.keys.key_id == server.ctx.keys.key_id
        before = [s.requests.handled for s in (server, second) if s.requests is not None]
        users = [BlueTrackClient(settings) for _ in range(6)]
        clients.extend(users)
        for user in users:  # client ids hash to both partitions of each request topic
            name, _ = register(user)
            assert user.validate(user.login(name, PASSWORD)).ok
        after = [s.requests.handled for s in (server, second) if s.requests is not None]
    assert all(a > b for a, b in zip(after, before, strict=True)), "both servers served"


# --- hostile input ------------------------------------------------------------------------------
def test_malformed_and_wrong_typed_input_on_every_topic_leaves_the_server_serving(
    client: BlueTrackClient, settings: Settings, kafka_clients: Any
) -> None:
    marker = uuid.uuid4().hex
    producer = kafka_clients.producer()
    inputs = {e.request_topic: e.request_model.model_fields["type"].default for e in EXCHANGES}
    inputs[Topic.SONGS_TRACKER] = "play_event"
    for topic, type_name in inputs.items():
        producer.produce(topic, value=b'{"broken ' + marker.encode())
        alien = {"type": "x", "request_id": 5, "event_id": ["a"], "note": marker}
        mistyped = {"type": type_name, "duration_ms": "long", "login": 7, "note": marker}
        for body in (alien, mistyped):
            producer.produce(topic, value=json.dumps(body).encode())
        producer.produce(topic, value=b"\xff" * 20000 + marker.encode())
    assert producer.flush(10) == 0

    name, _ = register(client)  # still serving
    assert client.validate(client.login(name, PASSWORD)).ok

    def letters() -> list[DeadLetter]:
        found = [decode(m.value(), DeadLetter) for m in read_topic(settings, Topic.DEAD_LETTER)]
        return [d for d in found if marker in d.payload or d.payload_bytes == 20032]

    def all_there() -> list[DeadLetter] | None:
        found = letters()
        return found if len(found) >= 4 * len(inputs) else None

    found = wait_for(all_there, what="a dead letter for every bad input")
    assert {d.source_topic for d in found} == {str(t) for t in inputs}
    assert all(d.reason and d.component == "server" for d in found)
    assert {d.code for d in found} >= {ErrorCode.INVALID_MESSAGE, ErrorCode.MESSAGE_TOO_LARGE}


def test_a_reimported_catalogue_is_served_without_a_restart(
    client: BlueTrackClient, server: Server, db: Any
) -> None:
    def served() -> CatalogueCache:
        assert server.ctx is not None and isinstance(server.ctx.songs, CatalogueCache)
        return server.ctx.songs

    assert not server.reload_catalogue_if_changed(), "nothing changed yet"
    before = len(served())
    import_test_catalogue(db, per_genre=8)
    assert server.reload_catalogue_if_changed()
    assert len(served()) > before
    name, _ = register(client)
    shelves = client.songs(client.login(name, PASSWORD))
    known = served().track_index()
    assert all(t.track_id in known for shelf in shelves for t in shelf.tracks)
