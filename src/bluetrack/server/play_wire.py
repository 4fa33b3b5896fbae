"""Play events from and to wire bytes, fast for the common case, pinned to the protocol.

The plays path handles ~50k events a second per process; pydantic's validation of a
``PlayEvent`` alone cost ~12 µs of that budget, and formatting its datetimes back for the
MAC and the ``AcceptedPlay`` a few more. So:

* ``decode_play`` parses with pydantic-core's JSON parser (several times faster than
  ``json.loads``, which ``codec.decode`` uses; where the two differ, it is the stricter and
  refuses) and checks a well-formed event by hand: exactly PlayEvent's fields, the
  protocol's patterns in one regular expression, timestamps already in the one wire
  format. Anything else (a missing or extra field, another type, an odd timestamp, JSON
  only ``json.loads`` takes) goes through ``codec.decode``, which accepts it or says why
  not. Unit tests generate valid and invalid events and require both ways to agree on
  accept/refuse and on every field.
* For a fast-decoded event the wire text IS the canonical text (``format_utc`` of the
  parsed time gives back the same characters), so the signing bytes and the accepted play
  are assembled from the received strings; for an event the protocol decoded, the
  protocol's own MAC check decides whenever the fast bytes do not verify.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pydantic_core import from_json

from bluetrack.protocol import sealing
from bluetrack.protocol.codec import MAX_REQUEST_BYTES, decode
from bluetrack.protocol.envelope import SCHEMA_VERSION
from bluetrack.protocol.plays import MAX_TRACK_MS, PlayEvent

_TYPE = "play_event"
_FIELDS = frozenset(PlayEvent.model_fields)
# ``signing_bytes`` and the checks below spell out PlayEvent's fields; if the model ever gains
# or loses one, fast decoding is off and every event goes through the protocol.
_FAST = {
    "version", "type", "event_id", "user_id", "session_id", "client_id", "track_id",
    "operation_type", "start_time", "event_time", "duration_ms", "genre", "mac",
} == _FIELDS  # fmt: skip
_OPERATIONS = frozenset({"start", "stop", "pause", "resume", "end"})
_GENRE_MAX = 64
# event_id, user_id, session_id, client_id, track_id, mac, start_time, event_time joined by
# "\n" (which none of the patterns allows, so the fields cannot run into each other). The
# times must be the wire format with a year of four digits, the first not 0: then
# ``envelope.format_utc`` of the parsed value is the received text, character for character.
_ID = r"[A-Za-z0-9_\-]{8,64}"
_TIME = r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"
_WELL_FORMED = re.compile(
    "\n".join([_ID, _ID, _ID, _ID, r"[A-Za-z0-9_\-]{1,64}", r"[0-9a-f]{64}", _TIME, _TIME])
)


@dataclass(frozen=True, slots=True)
class WireText:
    """Pieces of an event in wire form, shared by the MAC check and the AcceptedPlay."""

    start_time: str
    event_time: str
    genre: str  # JSON-quoted


class Play(NamedTuple):
    """A decoded play event: PlayEvent's values, their wire text, and (for an event the
    protocol had to decode) the model itself, so its MAC check can have the last word."""

    event_id: str
    user_id: str
    session_id: str
    client_id: str
    track_id: str
    operation_type: str
    start_time: datetime
    event_time: datetime
    duration_ms: int
    genre: str
    mac: str
    wire: WireText
    model: PlayEvent | None = None


def decode_play(raw: bytes | None) -> Play:
    """``codec.decode(raw, PlayEvent)`` as a Play; DecodeError exactly when decode raises."""
    if _FAST and raw is not None and len(raw) <= MAX_REQUEST_BYTES:
        play = _well_formed_play(raw)
        if play is not None:
            return play
    return play_of(decode(raw, PlayEvent))


def play_of(event: PlayEvent) -> Play:
    wire = WireText(wire_time(event.start_time), wire_time(event.event_time), quoted(event.genre))
    return Play(
        event.event_id, event.user_id, event.session_id, event.client_id, event.track_id,
        event.operation_type, event.start_time, event.event_time, event.duration_ms,
        event.genre, event.mac, wire, event,
    )  # fmt: skip


def _well_formed_play(raw: bytes) -> Play | None:
    """The event if it is plainly valid, else None (``codec.decode`` will look closer)."""
    try:
        data = from_json(raw)
        if type(data) is not dict or data.keys() != _FIELDS:
            return None
        version, duration, genre = data["version"], data["duration_ms"], data["genre"]
        if (
            type(version) is not int
            or version != SCHEMA_VERSION
            or data["type"] != _TYPE
            or data["operation_type"] not in _OPERATIONS
            or type(duration) is not int
            or not 0 <= duration <= MAX_TRACK_MS
            or type(genre) is not str
            or not 1 <= len(genre) <= _GENRE_MAX
        ):
            return None
        event_id, user_id, session_id, client_id, track_id, mac, start, end = fields = (
            data["event_id"], data["user_id"], data["session_id"], data["client_id"],
            data["track_id"], data["mac"], data["start_time"], data["event_time"],
        )  # fmt: skip
        if _WELL_FORMED.fullmatch("\n".join(fields)) is None:
            return None
        start_time, event_time = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except (ValueError, TypeError):  # not JSON, unhashable, not a str, not a date
        return None
    return Play(
        event_id, user_id, session_id, client_id, track_id, data["operation_type"],
        start_time, event_time, duration, genre, mac, WireText(start, end, quoted(genre)),
    )  # fmt: skip


def wire_time(value: datetime) -> str:
    """``envelope.format_utc`` for the UTC datetimes the protocol hands us, 3x faster."""
    return value.isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


@functools.lru_cache(maxsize=1024)
def quoted(genre: str) -> str:
    """JSON string literal of a genre; there are ~100 genres, so this is nearly always a hit."""
    return json.dumps(genre)


def signing_bytes(play: Play) -> bytes:
    # Sorted keys, compact separators: what sealing.play_signing_bytes produces. Ids and
    # track ids are restricted to [A-Za-z0-9_-] by the protocol, so only the genre (free
    # text) needs JSON escaping.
    wire = play.wire
    return (
        f'{{"client_id":"{play.client_id}","duration_ms":{play.duration_ms},'
        f'"event_id":"{play.event_id}","event_time":"{wire.event_time}","genre":{wire.genre},'
        f'"operation_type":"{play.operation_type}","session_id":"{play.session_id}",'
        f'"start_time":"{wire.start_time}","track_id":"{play.track_id}","type":"{_TYPE}",'
        f'"user_id":"{play.user_id}","version":{SCHEMA_VERSION}}}'
    ).encode()


def mac_ok(play_key: bytes, play: Play) -> bool:
    mac = hmac.digest(play_key, signing_bytes(play), "sha256").hex()
    if hmac.compare_digest(mac, play.mac):
        return True
    # Our bytes may differ from the protocol's for unusual values it decoded: let it decide.
    return play.model is not None and sealing.verify_play_mac(play_key, play.model)


class AcceptedRow(NamedTuple):
    """One accepted play's ``AcceptedPlay`` values, times as wire text: a row of the columnar
    frames the server sends (protocol/frames.py)."""

    event_id: str
    user_id: str
    track_id: str
    operation_type: str
    start_time: str
    event_time: str
    duration_ms: int
    genre: str
    accepted_at: str


def accepted_row(play: Play, accepted_at: str) -> AcceptedRow:
    """The ``AcceptedPlay`` of ``play`` as a row (a unit test pins it to the model)."""
    wire = play.wire
    return AcceptedRow(
        play.event_id, play.user_id, play.track_id, play.operation_type, wire.start_time,
        wire.event_time, play.duration_ms, play.genre, accepted_at,
    )  # fmt: skip


def fields_of(play: Play) -> dict[str, Any]:
    """The play as ``PlayEvent.model_dump()`` would give it (for tests and explanations)."""
    values = play._asdict()
    del values["wire"], values["model"]
    return {"version": SCHEMA_VERSION, "type": _TYPE, **values}
