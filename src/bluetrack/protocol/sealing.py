"""Sealed boxes and session proofs.

* Account requests (username, e-mail or login name, password) and session tokens are sealed
  to the server's Curve25519 public key (libsodium sealed boxes: anonymous sender, only the
  key owner can open).
* Replies that name an account, and a new session's secrets, are sealed to the ephemeral
  key the client sent with its request.
* Play events carry an HMAC-SHA256 over their canonical JSON with a per-session ``play_key``;
  the server derives that key from its master secret and the session id, so it stores none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import TypeVar

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from pydantic import BaseModel, ValidationError

from bluetrack.protocol.exceptions import SealedContentError, SealError
from bluetrack.protocol.plays import PlayEvent

TOKEN_BYTES = 32  # 256-bit session tokens
# Sealed JSON is padded (with whitespace, which JSON ignores) to a multiple of this, so a
# box's length does not give away how long the name, e-mail or password inside is.
PAD_TO = 256
M = TypeVar("M", bound=BaseModel)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise SealError("not valid base64") from exc


def new_keypair() -> PrivateKey:
    return PrivateKey.generate()


def public_key_b64(private_key: PrivateKey) -> str:
    return b64encode(bytes(private_key.public_key))


def private_key_from_b64(text: str) -> PrivateKey:
    return PrivateKey(b64decode(text))


def seal(recipient_public_key_b64: str, plaintext: bytes) -> str:
    try:
        key = PublicKey(b64decode(recipient_public_key_b64))
    except (CryptoError, ValueError, TypeError) as exc:
        raise SealError("not a valid Curve25519 public key") from exc
    return b64encode(SealedBox(key).encrypt(plaintext))


def unseal(private_key: PrivateKey, sealed_b64: str) -> bytes:
    try:
        return SealedBox(private_key).decrypt(b64decode(sealed_b64))
    except (CryptoError, ValueError, TypeError) as exc:
        raise SealError("sealed box could not be opened") from exc


def seal_model(recipient_public_key_b64: str, content: BaseModel) -> str:
    """``content`` as JSON, padded to a multiple of PAD_TO, in a box only the recipient opens."""
    body = content.model_dump_json().encode()
    return seal(recipient_public_key_b64, body + b" " * (-len(body) % PAD_TO))


def unseal_model(private_key: PrivateKey, sealed_b64: str, model: type[M]) -> M:
    """What the box holds, as ``model``.

    SealError (DECRYPTION_FAILED) if the box does not open; SealedContentError
    (INVALID_MESSAGE) if it opens to something else. Neither message quotes the content:
    it may hold a name or a password, and refusals end up in replies and dead letters.
    """
    opened = unseal(private_key, sealed_b64)
    try:
        return model.model_validate_json(opened)
    except ValidationError as exc:
        raise SealedContentError(f"the sealed box does not hold a valid {model.__name__}") from exc


def new_token() -> bytes:
    return secrets.token_bytes(TOKEN_BYTES)


def token_hash(token: bytes) -> str:
    """What the store keeps instead of the token."""
    return hashlib.sha256(token).hexdigest()


def play_key_for(master_secret: bytes, session_id: str) -> bytes:
    return hmac.new(master_secret, b"play|" + session_id.encode(), hashlib.sha256).digest()


def play_signing_bytes(event: PlayEvent) -> bytes:
    """Canonical bytes of an event without its mac: sorted keys, compact, wire timestamps."""
    body = event.model_dump(mode="json", exclude={"mac"})
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def play_mac(play_key: bytes, event: PlayEvent) -> str:
    return hmac.new(play_key, play_signing_bytes(event), hashlib.sha256).hexdigest()


def verify_play_mac(play_key: bytes, event: PlayEvent) -> bool:
    return hmac.compare_digest(play_mac(play_key, event), event.mac)


_UNSIGNED = "0" * 64


def sign_play(play_key: bytes, event: PlayEvent) -> PlayEvent:
    """Return ``event`` with its mac set (build it with any placeholder mac)."""
    unsigned = event.model_copy(update={"mac": _UNSIGNED})
    return unsigned.model_copy(update={"mac": play_mac(play_key, unsigned)})
