"""bcrypt password hashes, stored as the seed stored them: base64 of the bcrypt hash string."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets

import bcrypt

from bluetrack.core.validation import PASSWORD_MAX_BYTES

log = logging.getLogger(__name__)


class PasswordHasher:
    def __init__(self, cost: int) -> None:
        self.cost = cost
        # Unknown users are checked against this, so "no such user" costs one bcrypt too
        # and response time does not tell which accounts exist.
        self._dummy = bcrypt.hashpw(secrets.token_hex(16).encode(), bcrypt.gensalt(cost))

    def hash(self, password: str) -> str:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.cost))
        return base64.b64encode(hashed).decode("ascii")

    def verify(self, password: str, stored: str | None) -> bool:
        candidate = password.encode()
        hashed = _decode(stored) if stored is not None else None
        if hashed is None or len(candidate) > PASSWORD_MAX_BYTES:
            bcrypt.checkpw(candidate[:PASSWORD_MAX_BYTES], self._dummy)
            return False
        try:
            return bcrypt.checkpw(candidate, hashed)
        except ValueError:
            log.error("a stored password hash is not a bcrypt hash; refusing that login")
            return False


def _decode(stored: str) -> bytes | None:
    try:
        return base64.b64decode(stored.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        log.error("a stored password hash is not base64; refusing that login")
        return None
