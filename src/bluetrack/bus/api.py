"""The client side of the protocol in one object: what the GUI, the simulator and tests use.

It seals every secret and every name before it leaves (accounts and tokens to the server's
key), opens what replies sealed to its ephemeral key (the account, the session and its
secrets), and signs play events with the session's key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeVar

from nacl.public import PrivateKey

from bluetrack.bus.exceptions import RequestFailed
from bluetrack.bus.keys import fetch_server_key
from bluetrack.bus.requests import RequestClient
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.protocol import sealing
from bluetrack.protocol.envelope import Reply, Request, new_id, utc_now
from bluetrack.protocol.errors import ErrorCode, ErrorInfo
from bluetrack.protocol.messages import (
    Account,
    AuthProof,
    Credentials,
    LoginReply,
    LoginRequest,
    RegisterReply,
    RegisterRequest,
    Registration,
    SessionAuthReply,
    SessionAuthRequest,
    SessionSecrets,
    Shelf,
    SongsReply,
    SongsRequest,
    TrackSummary,
)
from bluetrack.protocol.plays import ClientOperation, PlayEvent
from bluetrack.protocol.topics import Topic

R = TypeVar("R", bound=Reply)


class BlueTrackClient:
    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        self.settings = settings
        self.requests = RequestClient(settings, client_id)
        self._server_key: str | None = None

    @property
    def client_id(self) -> str:
        return self.requests.client_id

    # --- plumbing ------------------------------------------------------------------------
    def server_key(self, *, refresh: bool = False) -> str:
        if self._server_key is None or refresh:
            self._server_key = fetch_server_key(self.settings).public_key
        return self._server_key

    def _call(self, request: Request, reply_type: type[R]) -> R:
        reply = self.requests.call(request)
        assert isinstance(reply, reply_type)
        if not reply.ok:
            if reply.error is not None and reply.error.code is ErrorCode.DECRYPTION_FAILED:
                self._server_key = None  # the server may have a new key: fetch it next time
            raise RequestFailed(reply.error or _unknown_error())
        return reply

    def _seal(self, plaintext: bytes) -> str:
        return sealing.seal(self.server_key(), plaintext)

    def _sealed_auth(self, session: Session, request_id: str) -> str:
        proof = AuthProof(
            token=sealing.b64encode(session.token),
            request_id=request_id,
            client_id=self.client_id,
            issued_at=utc_now(),
        )
        return self._seal(proof.model_dump_json().encode())

    # --- accounts and sessions -------------------------------------------------------------
    def register(self, username: str, email: str, password: str) -> Account:
        """The new account (its id and name), opened from the reply only we can read."""
        reply_key = PrivateKey.generate()
        request = RegisterRequest(
            client_id=self.client_id,
            sealed_registration=sealing.seal_model(
                self.server_key(), Registration(username=username, email=email, password=password)
            ),
            reply_key=sealing.public_key_b64(reply_key),
        )
        reply = self._call(request, RegisterReply)
        if reply.sealed_account is None:
            raise RequestFailed(_unknown_error("the register reply carried no account"))
        return sealing.unseal_model(reply_key, reply.sealed_account, Account)

    def login(self, login: str, password: str) -> Session:
        reply_key = PrivateKey.generate()
        request = LoginRequest(
            client_id=self.client_id,
            sealed_credentials=sealing.seal_model(
                self.server_key(), Credentials(login=login, password=password)
            ),
            reply_key=sealing.public_key_b64(reply_key),
        )
        reply = self._call(request, LoginReply)
        if reply.sealed_session is None:
            raise RequestFailed(_unknown_error("the login reply carried no session"))
        secrets = sealing.unseal_model(reply_key, reply.sealed_session, SessionSecrets)
        return Session(
            user_id=secrets.user_id,
            username=secrets.username,
            session_id=secrets.session_id,
            token=sealing.b64decode(secrets.token),
            play_key=sealing.b64decode(secrets.play_key),
            expires_at=reply.expires_at or utc_now(),
        )

    def _session_auth(
        self, session: Session, action: Literal["validate", "logout"]
    ) -> SessionAuthReply:
        request_id = new_id()
        request = SessionAuthRequest(
            request_id=request_id,
            client_id=self.client_id,
            session_id=session.session_id,
            sealed_auth=self._sealed_auth(session, request_id),
            action=action,
        )
        return self._call(request, SessionAuthReply)

    def validate(self, session: Session) -> SessionAuthReply:
        return self._session_auth(session, "validate")

    def logout(self, session: Session) -> SessionAuthReply:
        return self._session_auth(session, "logout")

    def songs(self, session: Session) -> list[Shelf]:
        request_id = new_id()
        request = SongsRequest(
            request_id=request_id,
            client_id=self.client_id,
            session_id=session.session_id,
            sealed_auth=self._sealed_auth(session, request_id),
        )
        return self._call(request, SongsReply).shelves

    # --- plays ---------------------------------------------------------------------------
    def play(
        self,
        session: Session,
        operation: ClientOperation,
        track: TrackSummary,
        *,
        genre: str,
        start_time: datetime,
        event_time: datetime | None = None,
        event_id: str | None = None,
    ) -> PlayEvent:
        """Sign and send one play event (asynchronously; ``flush`` to wait for delivery)."""
        event = sealing.sign_play(
            session.play_key,
            PlayEvent(
                event_id=event_id or new_id(),
                user_id=session.user_id,
                session_id=session.session_id,
                client_id=self.client_id,
                track_id=track.track_id,
                operation_type=operation,
                start_time=start_time,
                event_time=event_time or utc_now(),
                duration_ms=track.duration_ms,
                genre=genre,
                mac="0" * 64,
            ),
        )
        self.requests.publish(Topic.SONGS_TRACKER, event, key=session.user_id)
        return event

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for delivery of what was sent; returns how many messages are still queued."""
        return int(self.requests.producer.flush(timeout_s))

    def close(self) -> None:
        self.requests.close()


def _unknown_error(message: str = "the server gave no reason") -> ErrorInfo:
    return ErrorInfo(code=ErrorCode.INTERNAL_ERROR, message=message)
