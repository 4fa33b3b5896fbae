"""The wire protocol: models, codec limits, sealing and play signatures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bluetrack.bus.session import Session
from bluetrack.protocol import (
    BY_REQUEST_TOPIC,
    EXCHANGES,
    TOPIC_SPECS,
    Credentials,
    DecodeError,
    ErrorCode,
    Exchange,
    LoginRequest,
    PlayEvent,
    Registration,
    SealedContentError,
    SealError,
    Topic,
    decode,
    encode,
    error_reply,
    format_utc,
    sealing,
)
from bluetrack.protocol.errors import ErrorInfo

CLIENT = "client_0001"


def _login(**overrides: object) -> LoginRequest:
    key = sealing.new_keypair()
    fields: dict[str, object] = {
        "client_id": CLIENT,
        "sealed_credentials": sealing.seal_model(
            sealing.public_key_b64(key), Credentials(login="alice", password="hunter22")
        ),
        "reply_key": sealing.public_key_b64(key),
    }
    fields.update(overrides)
    return LoginRequest.model_validate(fields)


def _play(**overrides: object) -> PlayEvent:
    start = datetime(2026, 12, 4, 12, 0, 0, 123456, tzinfo=UTC)
    fields: dict[str, object] = {
        "event_id": "event_0001",
        "user_id": "user_0001",
        "session_id": "session_01",
        "client_id": CLIENT,
        "track_id": "5SuOikwiRyPMVoIQDJUgSV",
        "operation_type": "start",
        "start_time": start,
        "event_time": start,
        "duration_ms": 230666,
        "genre": "acoustic",
        "mac": "0" * 64,
    }
    fields.update(overrides)
    return PlayEvent.model_validate(fields)


def test_every_request_topic_has_one_exchange_and_a_reply_topic() -> None:
    topics = {spec.topic for spec in TOPIC_SPECS}
    for exchange in EXCHANGES:
        assert exchange.request_topic in topics and exchange.reply_topic in topics
        assert exchange.request_model.model_fields["type"].default == exchange.request_topic
        assert exchange.reply_model.model_fields["type"].default == exchange.reply_topic
    assert set(BY_REQUEST_TOPIC) == {
        Topic.REGISTER_USER,
        Topic.LOGIN_USER,
        Topic.SESSION_AUTH,
        Topic.SONGS_UPDATE,
    }


def test_round_trip_keeps_every_field() -> None:
    request = _login()
    assert decode(encode(request), LoginRequest) == request


def test_timestamps_are_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)
    assert format_utc(moment) == "2026-01-02T03:04:05.678Z"
    body = json.loads(encode(_play(start_time=moment, event_time=moment)))
    assert body["start_time"] == "2026-01-02T03:04:05.678Z"


def test_naive_timestamps_are_refused() -> None:
    raw = json.loads(encode(_play()))
    raw["event_time"] = "2026-12-04T12:00:00"
    with pytest.raises(DecodeError, match="timezone"):
        decode(json.dumps(raw).encode(), PlayEvent)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", ErrorCode.INVALID_MESSAGE),
        (b"[1, 2]", ErrorCode.INVALID_MESSAGE),
        (b'{"type": "songs_update", "version": 1}', ErrorCode.UNKNOWN_TYPE),
        (b'{"type": "login_user", "version": 99}', ErrorCode.UNSUPPORTED_VERSION),
        (b"{" + b" " * 20000 + b"}", ErrorCode.MESSAGE_TOO_LARGE),
        (b"\xff\xfe", ErrorCode.INVALID_MESSAGE),
    ],
)
def test_bad_bytes_raise_decode_error_with_a_code(raw: bytes, code: ErrorCode) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(raw, LoginRequest)
    assert caught.value.code is code


def test_a_wrong_typed_request_keeps_its_reply_address() -> None:
    body = json.loads(encode(_login()))
    body["reply_key"] = 42
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(body).encode(), LoginRequest)
    assert caught.value.request_id == body["request_id"]
    assert caught.value.client_id == CLIENT
    assert "reply_key" in str(caught.value)


def test_a_hostile_reply_address_is_not_echoed() -> None:
    body = json.loads(encode(_login()))
    body["client_id"] = "../../etc/passwd"
    with pytest.raises(DecodeError) as caught:
        decode(json.dumps(body).encode(), LoginRequest)
    assert caught.value.client_id is None


def test_unknown_fields_are_refused() -> None:
    body = json.loads(encode(_login()))
    body["password"] = "in the clear"
    with pytest.raises(DecodeError, match="password"):
        decode(json.dumps(body).encode(), LoginRequest)


def test_sealed_box_opens_only_with_its_private_key() -> None:
    server, other = sealing.new_keypair(), sealing.new_keypair()
    box = sealing.seal(sealing.public_key_b64(server), b"hunter22")
    assert sealing.unseal(server, box) == b"hunter22"
    assert b"hunter22" not in box.encode()
    with pytest.raises(SealError):
        sealing.unseal(other, box)
    with pytest.raises(SealError):
        sealing.unseal(server, "!!notbase64!!")


def test_play_mac_detects_any_change() -> None:
    key = sealing.play_key_for(b"m" * 32, "session_01")
    signed = sealing.sign_play(key, _play())
    assert sealing.verify_play_mac(key, signed)
    for change in ({"user_id": "user_0002"}, {"genre": "rock"}, {"duration_ms": 1}):
        assert not sealing.verify_play_mac(key, signed.model_copy(update=change))
    other_key = sealing.play_key_for(b"m" * 32, "session_02")
    assert not sealing.verify_play_mac(other_key, signed)


def test_play_mac_survives_the_wire() -> None:
    key = sealing.play_key_for(b"k" * 32, "session_01")
    signed = sealing.sign_play(key, _play())
    assert sealing.verify_play_mac(key, decode(encode(signed), PlayEvent))


def test_error_reply_keeps_the_correlation() -> None:
    exchange = BY_REQUEST_TOPIC[Topic.REGISTER_USER]
    info = ErrorInfo(code=ErrorCode.WEAK_PASSWORD, message="at least 8 characters")
    reply = error_reply(exchange, "request_01", CLIENT, info)
    assert (reply.request_id, reply.client_id, reply.ok) == ("request_01", CLIENT, False)
    assert reply.type == "register_user_response"


IDENTITIES = {"username", "email", "login", "password", "user_id", "session_id"}


@pytest.mark.parametrize("exchange", EXCHANGES, ids=lambda e: e.request_topic)
def test_no_request_or_reply_names_an_account_in_the_clear(exchange: Exchange) -> None:
    """Names, e-mails, passwords and account ids travel only inside sealed boxes.

    (Authenticated requests do carry their ``session_id``: it names no one, and the reply
    that created it sealed it.)
    """
    assert not IDENTITIES & set(exchange.reply_model.model_fields)
    clear = set(exchange.request_model.model_fields) - {"session_id"}
    assert not IDENTITIES & clear


def test_what_account_requests_seal_round_trips_and_only_the_key_owner_reads() -> None:
    server = sealing.new_keypair()
    registration = Registration(username="alice", email="alice@example.com", password="hunter22")
    box = sealing.seal_model(sealing.public_key_b64(server), registration)
    assert b"alice" not in box.encode()
    assert sealing.unseal_model(server, box, Registration) == registration
    with pytest.raises(SealError):
        sealing.unseal_model(sealing.new_keypair(), box, Registration)
    with pytest.raises(SealedContentError) as caught:
        sealing.unseal_model(server, box, Credentials)
    assert "alice" not in str(caught.value) and "hunter22" not in str(caught.value)


def test_a_sealed_account_does_not_tell_how_long_the_name_is() -> None:
    key = sealing.public_key_b64(sealing.new_keypair())
    sizes = {
        len(sealing.seal_model(key, Registration(username=name, email=f"{name}@example.com",
                                                 password="hunter22")))
        for name in ("bob", "alexandra-von-humboldt-2026")
    }  # fmt: skip
    assert len(sizes) == 1


def test_session_survives_json() -> None:
    session = Session(
        "user_0001",
        "alice",
        "session_01",
        b"t" * 32,
        b"p" * 32,
        datetime(2026, 12, 5, tzinfo=UTC) + timedelta(hours=1),
    )
    assert Session.from_json(session.to_json()) == session
