"""Play events: what clients send on ``songs_tracker`` and what the server accepts.

The seed's fields stay (``user_id``, ``track_id``, ``operation_type``, ``start_time``,
``duration_ms``, ``genre``); ``event_id`` makes counting exactly once possible, ``event_time``
places the event in event time, and ``mac`` proves the session without revealing its token.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bluetrack.protocol.envelope import Identifier, Message, UtcDateTime

ClientOperation = Literal["start", "stop", "pause", "resume", "end"]
# ``logout`` is never sent by a client: the server emits it when a session ends, so the
# processor can close that user's active play.
AcceptedOperation = Literal["start", "stop", "pause", "resume", "end", "logout"]

MAX_TRACK_MS = 6 * 3600 * 1000
TrackId = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
Genre = Field(min_length=1, max_length=64)


class PlayEvent(Message):
    type: Literal["play_event"] = "play_event"
    event_id: Identifier
    user_id: Identifier
    session_id: Identifier
    client_id: Identifier
    track_id: str = TrackId
    operation_type: ClientOperation
    start_time: UtcDateTime
    event_time: UtcDateTime
    duration_ms: int = Field(ge=0, le=MAX_TRACK_MS)
    genre: str = Genre
    mac: str = Field(pattern=r"^[0-9a-f]{64}$")


class AcceptedPlay(Message):
    """A play event the server verified; the stream processor reads only these."""

    type: Literal["play_accepted"] = "play_accepted"
    event_id: Identifier
    user_id: Identifier
    track_id: str = Field(max_length=64)  # empty for ``logout``
    operation_type: AcceptedOperation
    start_time: UtcDateTime
    event_time: UtcDateTime
    duration_ms: int = Field(ge=0, le=MAX_TRACK_MS)
    genre: str = Field(max_length=64)  # empty for ``logout``
    accepted_at: UtcDateTime
