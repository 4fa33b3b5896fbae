"""Dead letters: every input a component refused, with the reason, for operators to inspect."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bluetrack.protocol.envelope import Message, UtcDateTime
from bluetrack.protocol.errors import ErrorCode

MAX_DEAD_PAYLOAD = 8192  # characters of the original payload kept (it may be hostile and huge)


class DeadLetter(Message):
    type: Literal["dead_letter"] = "dead_letter"
    component: str = Field(max_length=64)  # "server", "processor", ...
    source_topic: str = Field(max_length=256)
    partition: int | None = None
    offset: int | None = None
    key: str | None = Field(default=None, max_length=512)
    code: ErrorCode
    reason: str = Field(max_length=1000)
    payload: str = Field(max_length=MAX_DEAD_PAYLOAD + 64)  # utf-8 text or "base64:..."
    payload_bytes: int = Field(ge=0)
    at: UtcDateTime
