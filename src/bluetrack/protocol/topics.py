"""Kafka topic names and their partition layout: the one list every side uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    REGISTER_USER = "register_user"
    REGISTER_USER_RESPONSE = "register_user_response"
    LOGIN_USER = "login_user"
    LOGIN_USER_RESPONSE = "login_user_response"
    SESSION_AUTH = "session_auth"
    SESSION_AUTH_RESPONSE = "session_auth_response"
    SONGS_UPDATE = "songs_update"
    SONGS_RESPONSE = "songs_response"
    # Plays as sent by clients (with a session proof) ...
    SONGS_TRACKER = "songs_tracker"
    # ... and the ones the server verified: the only input of the stream processor.
    PLAYS_ACCEPTED = "songs_tracker_accepted"
    TOP_GENRES = "top_genres"
    # The server announces its public key here (compacted, latest wins).
    SERVER_KEYS = "server_keys"
    DEAD_LETTER = "dead_letter"


class TopicKind(StrEnum):
    REQUEST = "request"
    REPLY = "reply"
    PLAYS = "plays"
    CHART = "chart"
    KEYS = "keys"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    topic: Topic
    kind: TopicKind
    compacted: bool = False


TOPIC_SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(Topic.REGISTER_USER, TopicKind.REQUEST),
    TopicSpec(Topic.REGISTER_USER_RESPONSE, TopicKind.REPLY),
    TopicSpec(Topic.LOGIN_USER, TopicKind.REQUEST),
    TopicSpec(Topic.LOGIN_USER_RESPONSE, TopicKind.REPLY),
    TopicSpec(Topic.SESSION_AUTH, TopicKind.REQUEST),
    TopicSpec(Topic.SESSION_AUTH_RESPONSE, TopicKind.REPLY),
    TopicSpec(Topic.SONGS_UPDATE, TopicKind.REQUEST),
    TopicSpec(Topic.SONGS_RESPONSE, TopicKind.REPLY),
    TopicSpec(Topic.SONGS_TRACKER, TopicKind.PLAYS),
    TopicSpec(Topic.PLAYS_ACCEPTED, TopicKind.PLAYS),
    TopicSpec(Topic.TOP_GENRES, TopicKind.CHART),
    TopicSpec(Topic.SERVER_KEYS, TopicKind.KEYS, compacted=True),
    TopicSpec(Topic.DEAD_LETTER, TopicKind.DEAD_LETTER),
)


def partitions_for(spec: TopicSpec, *, plays: int, requests: int, replies: int) -> int:
    """Explicit partition counts: plays scale with load, replies with clients (each reads its
    own partition), charts and keys stay totally ordered."""
    if spec.kind is TopicKind.PLAYS:
        return plays
    if spec.kind is TopicKind.REPLY:
        return replies
    if spec.kind in (TopicKind.REQUEST, TopicKind.DEAD_LETTER):
        return requests
    return 1
