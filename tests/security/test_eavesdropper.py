"""What a client that reads every topic learns (docs/security.md, "Threat model").

Without Kafka ACLs anyone who reaches the broker reads every record. These tests play the
whole life of an account -- register, a weak-password and a wrong-password attempt, login,
validate, songs, accepted and forged plays, logout -- and then read every topic raw.

* No secret is on the wire: passwords (also wrong and refused ones), session tokens, play
  keys, stored password and token hashes, the server's private key and master secret.
* Who listened to what: no record ties a username or e-mail to an id a play carries.
  Account requests seal the name with the password, and replies seal the user and session
  ids to the client's ephemeral key, so the ids on plays name nobody. The reader modelled
  here searches every topic's raw bytes for the name and e-mail, follows ids from record to
  record, and collects the plays they reach; a check on the reader itself shows it does find
  the plays when a record of the old protocol (a clear username or login reply) is added.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from security_support import (
    PASSWORD,
    Record,
    dead_letters,
    play_pair,
    records,
    unique,
    wait_until,
)
from server_harness import import_test_catalogue, running_server, server_settings

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.exceptions import RequestFailed
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.protocol import sealing
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.topics import TOPIC_SPECS, Topic, TopicKind
from bluetrack.server.runner import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(mongo_client: Any) -> Iterator[Any]:
    name = f"test_eavesdrop_{uuid.uuid4().hex[:12]}"
    import_test_catalogue(mongo_client[name])
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def settings(stack_settings: Settings, db: Any) -> Settings:
    made: Settings = server_settings(stack_settings, db.name, songs_genres=2, songs_per_genre=3)
    return made


@pytest.fixture(scope="module")
def server(settings: Settings, db: Any) -> Iterator[Server]:
    with running_server(settings) as running:
        yield running


@pytest.fixture
def client(settings: Settings, server: Server) -> Iterator[BlueTrackClient]:
    made = BlueTrackClient(settings)
    yield made
    made.close()


def _play_pair(client: BlueTrackClient, session: Session, shelf: int = 0) -> list[str]:
    """A 40-second play of a track from the session's shelves, start and end; the event ids."""
    on = client.songs(session)[shelf]
    ids = [e.event_id for e in play_pair(client, session, on.tracks[0], on.genre)]
    client.flush()
    return ids


def _encodings(secret: bytes) -> dict[str, bytes]:
    return {
        "raw": secret,
        "base64": base64.b64encode(secret),
        "urlsafe base64": base64.urlsafe_b64encode(secret).rstrip(b"="),
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
    }


def test_a_reader_of_every_topic_learns_no_secret_over_an_accounts_whole_life(
    client: BlueTrackClient, settings: Settings, server: Server, db: Any
) -> None:
    name = unique("eve")
    password = "s3cret-" + uuid.uuid4().hex
    weak, wrong = "weak" + uuid.uuid4().hex[:3], "wrong-" + uuid.uuid4().hex
    with pytest.raises(RequestFailed) as refused:
        client.register(name, f"{name}@example.com", weak)
    assert refused.value.info.code is ErrorCode.WEAK_PASSWORD
    client.register(name, f"{name}@example.com", password)
    with pytest.raises(RequestFailed):
        client.login(name, wrong)
    session = client.login(name, password)
    assert client.validate(session).ok
    assert client.songs(session)
    played = _play_pair(client, session)
    forged = replace(session, play_key=b"\x01" * 32)  # a MAC nobody can verify
    forged_ids = _play_pair(client, forged)
    wait_until(
        lambda: (
            {i for d in dead_letters(settings) for i in forged_ids if i in d.payload}
            == set(forged_ids)
        ),
        30,
        "dead letters for the forged plays",
    )
    stored = db.sessions.find_one({"_id": session.session_id})
    client.logout(session)

    user = db.users.find_one({"username": name})
    assert server.ctx is not None
    keys = server.ctx.keys
    secrets: dict[str, bytes] = {
        "password": password.encode(),
        "weak password": weak.encode(),
        "wrong password": wrong.encode(),
        "password hash (stored)": user["password_hash"].encode(),
        "bcrypt string": base64.b64decode(user["password_hash"]),
        "token hash": sealing.token_hash(session.token).encode(),
        "stored token hash": stored["token_hash"].encode(),
    }
    secrets.update({f"token {k}": v for k, v in _encodings(session.token).items()})
    secrets.update({f"play key {k}": v for k, v in _encodings(session.play_key).items()})
    secrets.update({f"private key {k}": v for k, v in _encodings(bytes(keys.private_key)).items()})
    secrets.update({f"master secret {k}": v for k, v in _encodings(keys.master_secret).items()})

    seen: set[str] = set()
    for spec in TOPIC_SPECS:
        for record in records(settings, spec.topic):
            raw = (record.key or b"") + b"|" + (record.value or b"")
            leaked = [what for what, secret in secrets.items() if secret in raw]
            assert not leaked, f"{leaked} readable on {spec.topic} at offset {record.offset}"
            if any(i.encode() in raw for i in (*played, client.client_id)):
                seen.add(spec.topic)
    # The reader did see this account's traffic (the check above looked at the right records):
    # its requests and their replies (by client id) and its plays (by event id).
    assert seen >= {s.topic for s in TOPIC_SPECS if s.kind in (TopicKind.REQUEST, TopicKind.REPLY)}
    assert seen >= {Topic.SONGS_TRACKER, Topic.PLAYS_ACCEPTED}


Topics = Mapping[Topic, Sequence[Record]]
# Fields whose values a reader can follow from record to record (a dead letter's ``key`` is
# the refused record's Kafka key).
ID_FIELDS = ("user_id", "session_id", "client_id", "key")
TOPIC_NAMES = {str(spec.topic) for spec in TOPIC_SPECS}  # keys of dead letters, not ids


def read_every_topic(settings: Settings) -> dict[Topic, list[Record]]:
    return {spec.topic: records(settings, spec.topic) for spec in TOPIC_SPECS}


def _json(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _objects(raw: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects in one frame: itself and those quoted inside (a dead letter's payload,
    whose frames are split again)."""
    data = _json(raw)
    if data is None:
        return
    yield data
    for value in data.values():
        if isinstance(value, str) and value.lstrip().startswith("{"):
            for line in value.encode().split(b"\n"):
                yield from _objects(line)


def _ids_in(data: Mapping[str, Any]) -> set[str]:
    return {v for f in ID_FIELDS if isinstance(v := data.get(f), str) and v}


@dataclass(frozen=True)
class Frame:
    """What a reader sees together: one line of a record (a record on the accepted-plays
    topic may carry several), with the ids in it and, unless the record packs several
    frames, the record's Kafka key."""

    raw: bytes
    ids: frozenset[str]
    objects: tuple[dict[str, Any], ...]


def _frames(record: Record) -> Iterator[Frame]:
    lines = [line for line in (record.value or b"").split(b"\n") if line.strip()] or [b""]
    key = record.key.decode("utf-8", "replace") if record.key else ""
    for line in lines:
        objects = tuple(_objects(line))
        ids = {key} if key and len(lines) == 1 else set()
        for data in objects:
            ids |= _ids_in(data)
        yield Frame((record.key or b"") + b"|" + line, frozenset(ids - TOPIC_NAMES), objects)


def tracks_a_reader_links_to(topics: Topics, who: set[str]) -> set[str]:
    """What an outsider reading every topic can say ``who`` (a name, an e-mail) played.

    The ids in any frame whose raw bytes hold the person's name or e-mail in any case (its
    Kafka key and its user, session and client ids, also those in a dead letter's payload);
    then the ids that share a frame with an id already linked (a client id leads to the
    session it validates, a session to its user), until none is added; then the track of
    every play, on either plays topic, that carries one of them.
    """
    identities = [w.lower().encode() for w in who]
    frames = [f for batch in topics.values() for r in batch for f in _frames(r)]
    linked: set[str] = set()
    for frame in frames:
        if any(identity in frame.raw.lower() for identity in identities):
            linked |= frame.ids
    while grown := {i for f in frames if f.ids & linked for i in f.ids} - linked:
        linked |= grown
    return {
        str(data["track_id"])
        for topic in (Topic.SONGS_TRACKER, Topic.PLAYS_ACCEPTED)
        for record in topics.get(topic, ())
        for frame in _frames(record)
        if frame.ids & linked
        for data in frame.objects
        if data.get("track_id")
    }


@pytest.fixture(scope="module")
def alices_listening(settings: Settings, server: Server) -> Iterator[tuple[str, BlueTrackClient]]:
    """Alice registers, logs in by e-mail and plays a track; her name and her client."""
    client = BlueTrackClient(settings)
    name = unique("alice")
    client.register(name, f"{name}@example.com", PASSWORD)
    session = client.login(f"{name}@example.com", PASSWORD)
    _play_pair(client, session, shelf=1)
    wait_until(
        lambda: any(
            session.user_id.encode() in (r.value or b"")
            for r in records(settings, Topic.PLAYS_ACCEPTED)
        ),
        30,
        "the accepted plays",
    )
    yield name, client
    client.close()


def test_a_reader_of_every_topic_cannot_tell_what_a_named_user_played(
    settings: Settings, alices_listening: tuple[str, BlueTrackClient]
) -> None:
    name, _ = alices_listening
    topics = read_every_topic(settings)
    assert tracks_a_reader_links_to(topics, {name, f"{name}@example.com"}) == set()


def _their_plays(topics: Topics, client_id: str) -> tuple[set[str], set[str]]:
    """The tracks and the user ids on the plays ``client_id`` sent (what the reader should
    reach once something ties the name to one of its ids)."""
    plays = [
        d
        for r in topics[Topic.SONGS_TRACKER]
        for f in _frames(r)
        for d in f.objects
        if d.get("client_id") == client_id
    ]
    return {d["track_id"] for d in plays}, {d["user_id"] for d in plays}


def _leak(topic: Topic, fields: dict[str, Any]) -> Record:
    value = json.dumps({"version": 1, "request_id": uuid.uuid4().hex, **fields}).encode()
    return Record(topic, 0, 1 << 40, str(fields.get("client_id", "")).encode() or None, value)


def test_the_reader_finds_the_plays_when_a_record_names_the_user(
    settings: Settings, alices_listening: tuple[str, BlueTrackClient]
) -> None:
    """The check above is no tautology: add one record of the old protocol and it links."""
    name, client = alices_listening
    email = f"{name}@example.com"
    topics = read_every_topic(settings)
    tracks, users = _their_plays(topics, client.client_id)
    assert len(tracks) == 1 and len(users) == 1
    (user_id,) = users
    clear_register = _leak(
        Topic.REGISTER_USER,
        {"type": "register_user", "client_id": client.client_id, "username": name, "email": email},
    )
    with_leak = {**topics, Topic.REGISTER_USER: [*topics[Topic.REGISTER_USER], clear_register]}
    assert tracks_a_reader_links_to(with_leak, {name}) == tracks
    # A name in a dead letter's payload, and an e-mail in a login reply naming only the user
    # id, read from accepted plays packed several to a record (no songs_tracker to help).
    payload = (clear_register.value or b"").decode()
    dead = json.dumps({"key": client.client_id, "code": "invalid_message", "payload": payload})
    dead_letter = Record(Topic.DEAD_LETTER, 0, 1 << 40, b"register_user", dead.encode())
    plays_and_dead_letter = {Topic.DEAD_LETTER: [dead_letter], **_plays(topics)}
    assert tracks_a_reader_links_to(plays_and_dead_letter, {name}) == tracks
    login_reply = _leak(
        Topic.LOGIN_USER_RESPONSE,
        {"type": "login_user_response", "client_id": "someone", "user_id": user_id, "login": email},
    )
    framed = b"\n".join(r.value or b"" for r in topics[Topic.PLAYS_ACCEPTED]) + b"\n"
    only_accepted = {
        Topic.LOGIN_USER_RESPONSE: [login_reply],
        Topic.PLAYS_ACCEPTED: [Record(Topic.PLAYS_ACCEPTED, 0, 0, None, framed)],
    }
    assert tracks_a_reader_links_to(only_accepted, {email.upper()}) == tracks


def _plays(topics: Topics) -> dict[Topic, Sequence[Record]]:
    return {t: topics[t] for t in (Topic.SONGS_TRACKER, Topic.PLAYS_ACCEPTED)}
