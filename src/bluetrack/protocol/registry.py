"""Which model travels on which topic, and which reply answers which request."""

from __future__ import annotations

from dataclasses import dataclass

from bluetrack.protocol.envelope import Reply, Request
from bluetrack.protocol.messages import (
    LoginReply,
    LoginRequest,
    RegisterReply,
    RegisterRequest,
    SessionAuthReply,
    SessionAuthRequest,
    SongsReply,
    SongsRequest,
)
from bluetrack.protocol.topics import Topic


@dataclass(frozen=True, slots=True)
class Exchange:
    request_topic: Topic
    request_model: type[Request]
    reply_topic: Topic
    reply_model: type[Reply]


EXCHANGES: tuple[Exchange, ...] = (
    Exchange(Topic.REGISTER_USER, RegisterRequest, Topic.REGISTER_USER_RESPONSE, RegisterReply),
    Exchange(Topic.LOGIN_USER, LoginRequest, Topic.LOGIN_USER_RESPONSE, LoginReply),
    Exchange(Topic.SESSION_AUTH, SessionAuthRequest, Topic.SESSION_AUTH_RESPONSE, SessionAuthReply),
    Exchange(Topic.SONGS_UPDATE, SongsRequest, Topic.SONGS_RESPONSE, SongsReply),
)

BY_REQUEST_TOPIC: dict[Topic, Exchange] = {e.request_topic: e for e in EXCHANGES}
BY_REQUEST_MODEL: dict[type[Request], Exchange] = {e.request_model: e for e in EXCHANGES}
BY_REPLY_TOPIC: dict[Topic, Exchange] = {e.reply_topic: e for e in EXCHANGES}
REPLY_TOPICS: tuple[Topic, ...] = tuple(e.reply_topic for e in EXCHANGES)


def error_reply(exchange: Exchange, request_id: str, client_id: str, info: object) -> Reply:
    """The reply for a request that failed: same correlation, ``ok`` false, the error."""
    return exchange.reply_model.model_validate(
        {"request_id": request_id, "client_id": client_id, "ok": False, "error": info}
    )
