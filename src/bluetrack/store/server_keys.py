"""The server's long-lived secrets in MongoDB (collection ``server_keys``).

One Curve25519 keypair (clients seal passwords and session proofs to it) and one 32-byte
master secret (play keys are derived from it per session). Created once: every server
process races to insert the same ``_id`` and the losers read the winner's, so all processes
share ONE key without transactions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nacl.public import PrivateKey
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from bluetrack.errors import BlueTrackError
from bluetrack.protocol import sealing
from bluetrack.protocol.envelope import utc_now
from bluetrack.store.users import as_utc

COLLECTION = "server_keys"
KEY_DOC_ID = "server"
MASTER_SECRET_BYTES = 32


class ServerKeysError(BlueTrackError):
    """The stored key document is unreadable (edited by hand, or truncated)."""


@dataclass(frozen=True, slots=True)
class ServerKeys:
    private_key: PrivateKey
    master_secret: bytes
    created_at: datetime

    @property
    def public_key_b64(self) -> str:
        return sealing.public_key_b64(self.private_key)

    @property
    def key_id(self) -> str:
        """A short fingerprint of the public key: lets operators see which key is live."""
        return hashlib.sha256(bytes(self.private_key.public_key)).hexdigest()[:32]

    @classmethod
    def generate(cls) -> ServerKeys:
        return cls(sealing.new_keypair(), secrets.token_bytes(MASTER_SECRET_BYTES), utc_now())


def load_or_create(db: Database[Any]) -> ServerKeys:
    keys = db[COLLECTION]
    found = keys.find_one({"_id": KEY_DOC_ID})
    if found is not None:
        return _from_doc(found)
    fresh = ServerKeys.generate()
    try:
        keys.insert_one(_to_doc(fresh))
        return fresh
    except DuplicateKeyError as exc:
        # Another process won the race: use its key, not ours.
        winner = keys.find_one({"_id": KEY_DOC_ID})
        if winner is None:
            raise ServerKeysError("the server key vanished after a duplicate insert") from exc
        return _from_doc(winner)


def _to_doc(keys: ServerKeys) -> dict[str, Any]:
    return {
        "_id": KEY_DOC_ID,
        "private_key": sealing.b64encode(bytes(keys.private_key)),
        "public_key": keys.public_key_b64,
        "master_secret": sealing.b64encode(keys.master_secret),
        "created_at": keys.created_at,
    }


def _from_doc(doc: dict[str, Any]) -> ServerKeys:
    try:
        private_key = sealing.private_key_from_b64(doc["private_key"])
        master_secret = sealing.b64decode(doc["master_secret"])
        created_at = as_utc(doc["created_at"])
    except (KeyError, TypeError, ValueError, BlueTrackError) as exc:
        raise ServerKeysError(f"the stored server key is unreadable: {exc}") from exc
    if len(master_secret) != MASTER_SECRET_BYTES:
        raise ServerKeysError("the stored master secret has the wrong length")
    return ServerKeys(private_key, master_secret, created_at)
