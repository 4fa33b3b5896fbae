"""Checking the session proof every authenticated request carries.

``sealed_auth`` opens (with the server's private key) to an ``AuthProof``: the session's
token bound to this request's id and client, and the time it was made. A proof copied off
Kafka is useless: it names one request, goes stale after the clock skew allowance, and is
refused the second time within that window.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from nacl.public import PrivateKey
from pydantic import ValidationError

from bluetrack.core.replay import ReplayGuard
from bluetrack.protocol import sealing
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import SealError
from bluetrack.protocol.messages import AuthenticatedRequest, AuthProof
from bluetrack.server.exceptions import Rejected
from bluetrack.server.session_cache import LiveSession, SessionCache


class Authenticator:
    def __init__(
        self,
        private_key: PrivateKey,
        sessions: SessionCache,
        *,
        clock_skew_s: float,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._private_key = private_key
        self._sessions = sessions
        self._skew = timedelta(seconds=clock_skew_s)
        self._now = now
        # A proof is fresh for skew either side of its issue time, so remembering request
        # ids for twice the skew covers every moment a replay could still pass.
        self._seen = ReplayGuard(2 * clock_skew_s + 1, clock=monotonic)
        self._seen_lock = threading.Lock()

    def authenticate(self, request: AuthenticatedRequest) -> LiveSession:
        """The live session behind ``request``, or Rejected saying why not."""
        proof = self._open(request.sealed_auth)
        if proof.request_id != request.request_id or proof.client_id != request.client_id:
            raise Rejected(
                ErrorCode.INVALID_SESSION,
                "the session proof was made for another request",
                dead_letter=True,
            )
        now = self._now()
        if abs(now - proof.issued_at) > self._skew:
            raise Rejected(
                ErrorCode.REPLAYED,
                "the session proof is stale or from the future: check this device's clock",
                dead_letter=True,
            )
        session = self._sessions.lookup(request.session_id, now)
        if session is None or not _token_matches(proof.token, session.token_hash):
            raise Rejected(ErrorCode.INVALID_SESSION, "no such session: please log in again")
        if session.expired(now):
            raise Rejected(ErrorCode.SESSION_EXPIRED, "the session has expired: please log in")
        with self._seen_lock:
            fresh = self._seen.check_and_remember(f"{request.session_id}/{request.request_id}")
        if not fresh:
            raise Rejected(ErrorCode.REPLAYED, "this request was already handled", dead_letter=True)
        return session

    def _open(self, sealed: str) -> AuthProof:
        try:
            return AuthProof.model_validate_json(sealing.unseal(self._private_key, sealed))
        except SealError as exc:
            raise Rejected(
                ErrorCode.DECRYPTION_FAILED,
                "the session proof does not open with the server's key: fetch the key again",
                dead_letter=True,
            ) from exc
        except ValidationError as exc:
            raise Rejected(
                ErrorCode.INVALID_SESSION, "the session proof is malformed", dead_letter=True
            ) from exc


def _token_matches(token_b64: str, stored_hash: str) -> bool:
    try:
        token = sealing.b64decode(token_b64)
    except SealError:
        return False
    return hmac.compare_digest(sealing.token_hash(token), stored_hash)
