"""ServerService never dies on input: every bad message becomes a reply and/or a dead letter."""

from __future__ import annotations

import json

import pytest

from bluetrack.protocol.codec import MAX_REQUEST_BYTES, decode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.messages import RegisterReply
from bluetrack.protocol.registry import EXCHANGES, Exchange
from bluetrack.protocol.topics import Topic
from bluetrack.server.handlers import REGISTRY
from bluetrack.server.outcome import Outgoing
from bluetrack.server.service import ServerService
from bluetrack.server.testing import server_under_test

ADDRESS = {"request_id": "request-0001", "client_id": "client-0001"}
REQUEST_TOPICS = [e.request_topic for e in EXCHANGES]


@pytest.fixture
def service() -> ServerService:
    return ServerService(server_under_test().ctx)


def by_topic(records: list[Outgoing], topic: Topic) -> list[Outgoing]:
    return [r for r in records if r.topic == topic]


@pytest.mark.parametrize("topic", REQUEST_TOPICS)
@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"", b"null", b"{}"],
    ids=["broken", "binary", "array", "string", "empty", "null", "empty-object"],
)
def test_garbage_without_an_address_is_only_dead_lettered(
    service: ServerService, topic: Topic, raw: bytes
) -> None:
    records = service.handle(topic, None, raw, partition=1, offset=42)
    assert [r.topic for r in records] == [Topic.DEAD_LETTER]
    letter = decode(records[0].value, DeadLetter)
    assert letter.source_topic == topic and letter.component == "server"
    assert letter.partition == 1 and letter.offset == 42
    assert letter.reason and letter.code in {ErrorCode.INVALID_MESSAGE, ErrorCode.UNKNOWN_TYPE}


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: e.request_topic)
def test_wrong_types_with_an_address_get_an_error_reply_too(
    service: ServerService, exchange: Exchange
) -> None:
    body = {**ADDRESS, "type": exchange.request_model.model_fields["type"].default}
    body.update({"sealed_registration": ["x"], "sealed_credentials": 7, "reply_key": 1})
    body.update({"session_id": 3, "sealed_auth": 1, "genres": "many"})
    records = service.handle(exchange.request_topic, None, json.dumps(body).encode())
    replies = by_topic(records, exchange.reply_topic)
    assert len(replies) == 1 and replies[0].key == ADDRESS["client_id"]
    reply = decode(replies[0].value, exchange.reply_model)
    assert not reply.ok and reply.error is not None
    assert reply.error.code is ErrorCode.INVALID_MESSAGE
    assert reply.request_id == ADDRESS["request_id"]
    assert len(by_topic(records, Topic.DEAD_LETTER)) == 1


def test_a_message_of_another_type_is_unknown_type(service: ServerService) -> None:
    raw = json.dumps({**ADDRESS, "type": "login_user", "reply_key": "x"}).encode()
    records = service.handle(Topic.REGISTER_USER, None, raw)
    reply = decode(by_topic(records, Topic.REGISTER_USER_RESPONSE)[0].value, RegisterReply)
    assert reply.error is not None and reply.error.code is ErrorCode.UNKNOWN_TYPE


def test_an_oversized_message_is_refused_and_truncated_in_the_dead_letter(
    service: ServerService,
) -> None:
    raw = json.dumps({**ADDRESS, "type": "register_user", "pad": "x" * MAX_REQUEST_BYTES}).encode()
    records = service.handle(Topic.REGISTER_USER, None, raw)
    letter = decode(by_topic(records, Topic.DEAD_LETTER)[0].value, DeadLetter)
    assert letter.code is ErrorCode.MESSAGE_TOO_LARGE
    assert letter.payload_bytes == len(raw) and len(letter.payload) < len(raw)


def test_a_message_on_a_non_request_topic_is_dead_lettered(service: ServerService) -> None:
    records = service.handle("songs_response", None, b"{}")
    assert decode(records[0].value, DeadLetter).code is ErrorCode.UNKNOWN_TYPE


def test_a_crashing_handler_gives_internal_error_without_a_trace() -> None:
    def explode(ctx: object, request: object) -> RegisterReply:
        raise RuntimeError("secret internals /etc/passwd line 42")

    service = ServerService(server_under_test().ctx, {**REGISTRY, Topic.REGISTER_USER: explode})
    raw = json.dumps(
        {**ADDRESS, "type": "register_user", "sealed_registration": "AAAA", "reply_key": "AAAA"}
    ).encode()
    records = service.handle(Topic.REGISTER_USER, None, raw)
    reply = decode(records[0].value, RegisterReply)
    assert reply.error is not None and reply.error.code is ErrorCode.INTERNAL_ERROR
    assert "secret" not in reply.error.message and "Traceback" not in reply.error.message


def test_a_store_outage_gives_unavailable_with_a_retry_hint() -> None:
    from pymongo.errors import ServerSelectionTimeoutError

    def store_down(ctx: object, request: object) -> RegisterReply:
        raise ServerSelectionTimeoutError("127.0.0.1:27017: connection refused")

    service = ServerService(server_under_test().ctx, {**REGISTRY, Topic.REGISTER_USER: store_down})
    raw = json.dumps(
        {**ADDRESS, "type": "register_user", "sealed_registration": "AAAA", "reply_key": "AAAA"}
    ).encode()
    reply = decode(service.handle(Topic.REGISTER_USER, None, raw)[0].value, RegisterReply)
    assert reply.error is not None and reply.error.code is ErrorCode.UNAVAILABLE
    assert reply.error.retry_after_s and "27017" not in reply.error.message
