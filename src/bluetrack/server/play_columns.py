"""A batch of play events read and checked column-wise: one Arrow parse, not one per event.

``plainly_valid`` joins the batch's raw values into one JSON-lines document, parses it once
with ``protocol.columns.ModelColumns(PlayEvent)`` (schema and checks derived from the model)
and returns, as an Arrow table, the events that are *plainly* valid: exactly what
``play_wire``'s fast decode accepts, so such an event decodes to the same values either way.
Everything else (a value that is not one line of ASCII-escape-free UTF-8 from ``{`` to
``}``, that does not parse, breaks a rule of the model, or has a timestamp other than the one
wire format) is left to the per-event path, which accepts it or says exactly why not.

``rules_hold`` then checks those events against the server's rules (live session of the
same user, known track of that genre and duration, times in the window, the MAC) with
array operations: Python runs once per distinct session, track and genre of the batch, and
once per event only for the HMAC itself, from the session key's precomputed states.

Values with a backslash are left out on purpose: without escapes, Arrow's and pydantic's
JSON parsers cannot read a string differently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bluetrack.protocol.codec import MAX_REQUEST_BYTES
from bluetrack.protocol.columns import (
    FrameRefused,
    ModelColumns,
    distinct,
    python_values,
    wire_schema,
)
from bluetrack.protocol.envelope import SCHEMA_VERSION
from bluetrack.protocol.plays import PlayEvent
from bluetrack.server.context import TrackFacts
from bluetrack.server.play_wire import quoted
from bluetrack.server.session_cache import LiveSession

_READER = ModelColumns(PlayEvent)
# The wire format, with every field in range (the per-event path's regular expression is
# looser, and leaves the rest to ``datetime.fromisoformat``; Arrow's cast below checks the
# day of the month).
_TIME = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z$"
)
_JOINT = b"}\n{"
_SMALLEST = 16  # values: a piece this small that does not parse is left to the per-event path
_MOST_PARSES = 32  # Arrow calls per batch
_MAC_BYTES = 32  # SHA-256
_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


@dataclass(frozen=True, slots=True)
class Plain:
    """The plainly valid events of a batch: ``index[r]`` is row r's position in the batch."""

    index: list[int]
    table: pa.Table  # PlayEvent's columns, as on the wire

    def column(self, name: str) -> list[Any]:
        return python_values(self.table, name)


def plainly_valid(values: Sequence[bytes | None]) -> Plain:
    doc, candidates, raw = _one_line_objects(values)
    tables, index = _parse(raw, candidates, doc) if raw else ([], [])
    if not tables:
        return _empty()
    table = pa.concat_tables(tables)
    # Times first, so the reader's own timestamp check (which goes row by row once any
    # time does not parse) only ever sees times that do.
    good = _wire_time(table.column("start_time")) & _wire_time(table.column("event_time"))
    if not good.all():
        table, index = table.filter(pa.array(good)), _kept(index, good)
    good = np.ones(table.num_rows, dtype=bool)
    for rows, _ in _READER.broken_rules(table):
        good[rows] = False
    if not good.all():
        table, index = table.filter(pa.array(good)), _kept(index, good)
    return Plain(index, table)


def _wire_time(column: pa.ChunkedArray) -> np.ndarray:
    """Where the text is the wire format of a real time (no 30 February)."""
    ok = pc.fill_null(pc.match_substring_regex(column, _TIME), False).to_numpy(zero_copy_only=False)
    # Only a day from the 29th on can be past its month's end: those few rows, by hand.
    late = np.flatnonzero(ok & _late_in_month(column))
    for row, text in zip(late.tolist(), column.take(late).to_pylist(), strict=True):
        try:
            datetime.fromisoformat(text)
        except ValueError:
            ok[row] = False
    return ok  # type: ignore[no-any-return]


def _late_in_month(column: pa.ChunkedArray) -> np.ndarray:
    day = pc.utf8_slice_codeunits(column, 8, 10)
    return pc.fill_null(pc.greater_equal(day, "29"), False).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


def _kept(index: list[int], good: np.ndarray) -> list[int]:
    return np.asarray(index, dtype=np.int64)[good].tolist()  # type: ignore[no-any-return]


def _one_line_objects(
    values: Sequence[bytes | None],
) -> tuple[bytes | None, list[int], list[bytes]]:
    """(the document if every value qualifies, which values qualify, their bytes): each
    one line of UTF-8 without backslashes, from ``{`` to ``}``, within the size limit."""
    if None not in values:
        raw = cast(list[bytes], list(values))
        doc = b"\n".join(raw)
        if (
            raw
            and max(map(len, raw)) <= MAX_REQUEST_BYTES
            and doc[:1] == b"{"
            and doc[-1:] == b"}"
            and doc.count(b"\n") == len(raw) - 1
            and doc.count(_JOINT) == len(raw) - 1
            and b"\\" not in doc
            and _utf8(doc)
        ):
            return doc, list(range(len(raw))), raw
    where = [
        i
        for i, v in enumerate(values)
        if v is not None
        and len(v) <= MAX_REQUEST_BYTES
        and v[:1] == b"{"
        and v[-1:] == b"}"
        and b"\n" not in v
        and b"\\" not in v
        and _utf8(v)
    ]
    return None, where, [values[i] or b"" for i in where]


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse(
    raw: list[bytes], where: list[int], doc: bytes | None
) -> tuple[list[pa.Table], list[int]]:
    """Parse ``raw`` as one document; if it does not parse into one row per value, halve it
    until the values that spoil it are in small pieces, and leave those pieces out.

    Each Arrow call costs ~0.2 ms however small its input, so halving stops at
    ``_SMALLEST`` values and after ``_MOST_PARSES`` calls: a batch of bad JSON costs the
    per-event path plus a bounded few ms, never a call per event.
    """
    tables: list[pa.Table] = []
    index: list[int] = []
    pieces = [(0, len(raw))]
    calls = 0
    while pieces and calls < _MOST_PARSES:
        lo, hi = pieces.pop()
        calls += 1
        try:
            table = _READER.parse(doc if doc is not None else b"\n".join(raw[lo:hi]))
        except FrameRefused:
            table = None
        doc = None
        if table is not None and table.num_rows == hi - lo:
            tables.append(table)
            index.extend(where[lo:hi])
        elif hi - lo > _SMALLEST:
            half = (lo + hi) // 2
            pieces += [(half, hi), (lo, half)]  # the first half next: rows stay in order
    return tables, index  # in batch order: pieces are taken first half first


def _empty() -> Plain:
    return Plain([], wire_schema(PlayEvent).empty_table())


# --- the server's rules, per column ---------------------------------------------------------
def rules_hold(
    plain: Plain,
    session_of: Callable[[str], LiveSession | None],
    track_of: Callable[[str], TrackFacts | None],
    now: datetime,
    window: tuple[str, str],
) -> np.ndarray:
    """Per row, whether the event keeps every rule but the replay check: a live session of
    its own user, a known track with that genre and duration, an event time within
    ``window`` (wire text, earliest and latest) and not before the start, and a MAC that
    verifies. The conditions are ``plays._verify_columns``'s, column by column."""
    table = plain.table
    if table.num_rows == 0:
        return np.zeros(0, dtype=bool)
    session_ids, session_at = distinct(table.column("session_id"))
    sessions = [session_of(s) for s in session_ids]
    live = np.array([s is not None and now < s.expires_at for s in sessions], dtype=bool)
    own = pa.array([s.user_id if s is not None else None for s in sessions], pa.string())
    holds = live[session_at] & _true(pc.equal(table.column("user_id"), own.take(session_at)))
    genres = distinct(table.column("genre"))
    holds &= _track_rules(table, track_of, genres)
    start, end = table.column("start_time"), table.column("event_time")
    earliest, latest = window
    holds &= _true(pc.greater_equal(end, earliest)) & _true(pc.less_equal(end, latest))
    holds &= _true(pc.less_equal(start, end))
    keys = [s.play_key if s is not None else b"" for s in sessions]
    return holds & _macs_verify(plain, keys, session_at, genres)  # type: ignore[no-any-return]


def _track_rules(
    table: pa.Table,
    track_of: Callable[[str], TrackFacts | None],
    distinct_genres: tuple[list[Any], np.ndarray],
) -> np.ndarray:
    """A known track, one of its genres, its real duration."""
    track_ids, track_at = distinct(table.column("track_id"))
    facts = [track_of(t) for t in track_ids]
    duration = np.array([f.duration_ms if f is not None else -1 for f in facts], dtype=np.int64)
    known = np.array([f is not None for f in facts], dtype=bool)
    holds = known[track_at] & (table.column("duration_ms").to_numpy() == duration[track_at])
    # Genre membership once per distinct (track, genre) pair of the batch.
    genres, genre_at = distinct_genres
    pair = track_at.astype(np.int64) * len(genres) + genre_at
    pairs, pair_at = np.unique(pair, return_inverse=True)
    member = np.array(
        [
            (f := facts[p // len(genres)]) is not None and genres[p % len(genres)] in f.genres
            for p in pairs.tolist()
        ],
        dtype=bool,
    )
    return holds & member[pair_at]  # type: ignore[no-any-return]


def _macs_verify(
    plain: Plain,
    keys: list[bytes],
    session_at: np.ndarray,
    distinct_genres: tuple[list[Any], np.ndarray],
) -> np.ndarray:
    """HMAC-SHA256 of each event's signing bytes (``play_wire.signing_bytes``, built by
    Arrow for the whole batch) under its session's key, against its ``mac``."""
    table = plain.table
    genres, genre_at = distinct_genres
    genre_json = pa.array([quoted(g) for g in genres], pa.string()).take(genre_at)
    column = table.column
    signed = pc.binary_join_element_wise(
        '{"client_id":"', column("client_id"),
        '","duration_ms":', pc.cast(column("duration_ms"), pa.string()),
        ',"event_id":"', column("event_id"),
        '","event_time":"', column("event_time"),
        '","genre":', genre_json,
        ',"operation_type":"', column("operation_type"),
        '","session_id":"', column("session_id"),
        '","start_time":"', column("start_time"),
        '","track_id":"', column("track_id"),
        '","type":"play_event","user_id":"', column("user_id"),
        f'","version":{SCHEMA_VERSION}}}',
        "",  # the separator
    )  # fmt: skip
    messages = pc.cast(signed, pa.binary()).to_numpy(zero_copy_only=False)
    states = [hmac_states(key) for key in keys]
    expected = []
    for at, message in zip(session_at.tolist(), messages, strict=True):
        inner, outer = states[at]
        inner = inner.copy()
        inner.update(message)
        outer = outer.copy()
        outer.update(inner.digest())
        expected.append(outer.digest())
    given = bytes.fromhex("".join(plain.column("mac")))  # the model's rule: 64 lowercase hex
    # Every byte of every MAC compared (no early exit), as hmac.compare_digest does.
    differ = np.frombuffer(b"".join(expected), np.uint8) ^ np.frombuffer(given, np.uint8)
    return np.bitwise_or.reduce(differ.reshape(-1, _MAC_BYTES), axis=1) == 0  # type: ignore[no-any-return]


def hmac_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) of ``key`` up to the message: the inner and outer SHA-256
    states after the padded key. Per message, two state copies then finish it: 0.8 µs,
    where ``hmac.digest`` sets the key up again each time (1.7 µs)."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def _true(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]
