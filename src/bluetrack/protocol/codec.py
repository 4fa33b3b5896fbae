"""Bytes <-> models, with size limits and errors that say what was wrong.

Every consumer decodes through here, so "no consumer ever dies on input" is one
``except DecodeError`` at each loop.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bluetrack.protocol.envelope import SCHEMA_VERSION, Message
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError

M = TypeVar("M", bound=BaseModel)

MAX_REQUEST_BYTES = 16 * 1024
MAX_REPLY_BYTES = 512 * 1024
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def encode(message: Message) -> bytes:
    return message.model_dump_json().encode()


def _valid_id(value: Any) -> str | None:
    if isinstance(value, str) and 8 <= len(value) <= 64 and set(value) <= _ID_CHARS:
        return value
    return None


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def decode(raw: bytes | None, model: type[M], *, max_bytes: int = MAX_REQUEST_BYTES) -> M:
    """Parse ``raw`` as ``model`` or raise DecodeError carrying any valid reply address."""
    if raw is None:
        raise DecodeError("empty message")
    if len(raw) > max_bytes:
        raise DecodeError(
            f"message of {len(raw)} bytes exceeds the {max_bytes}-byte limit",
            ErrorCode.MESSAGE_TOO_LARGE,
        )
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        # 10 KB of '[' is enough: without this, one message escapes every consumer's
        # ``except DecodeError`` (and a batch-retrying consumer retries it for ever).
        raise DecodeError("not JSON we accept: nested too deeply") from exc
    if not isinstance(data, dict):
        raise DecodeError("a message must be a JSON object")
    return decode_object(data, model)


def decode_object(data: dict[str, Any], model: type[M]) -> M:
    """``decode`` after the JSON parse: the envelope rules, then the model's."""
    address = {
        "request_id": _valid_id(data.get("request_id")),
        "client_id": _valid_id(data.get("client_id")),
    }
    expected_type = model.model_fields["type"].default if "type" in model.model_fields else None
    if data.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise DecodeError(
            f"schema version {data.get('version')!r} is not supported (expected {SCHEMA_VERSION})",
            ErrorCode.UNSUPPORTED_VERSION,
            **address,
        )
    if expected_type is not None and data.get("type") != expected_type:
        raise DecodeError(
            f"type {data.get('type')!r} does not belong on this topic (expected {expected_type!r})",
            ErrorCode.UNKNOWN_TYPE,
            **address,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DecodeError(
            _explain(exc),
            ErrorCode.INVALID_MESSAGE,
            request_id=address["request_id"],
            client_id=address["client_id"],
        ) from exc
