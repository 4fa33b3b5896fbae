"""Accepted plays travel in frames: one Kafka record, many ``AcceptedPlay`` JSON lines.

A frame is one or more ``AcceptedPlay`` objects, each the model's own compact JSON on one
line (``{`` to ``}``), joined by a single ``\\n``. One record per play cost the processor
~20 µs of JVM time per play (Kafka record overhead, Spark's JSON parse), which capped the
charts far below the rate the server accepts; a frame moves hundreds of plays in one record
and is parsed in one vectorised call. A single AcceptedPlay JSON record is a frame of one,
so a producer that sends plays one by one is still understood.

Frames stay small enough for Kafka's default 1 MiB record limit, and a user's plays keep
to one partition (the producer chooses the partition from the user id), so per-user order
holds as it did with one record per play.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bluetrack.protocol.codec import decode
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.plays import AcceptedPlay

SEPARATOR = b"\n"
MAX_FRAME_PLAYS = 1000
MAX_FRAME_BYTES = 900 * 1024  # under Kafka's default max.message.bytes (1 MiB) with headroom


def frames_of(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Pack AcceptedPlay JSON lines into as few frames as the limits allow, in order."""
    pending: list[bytes] = []
    size = 0
    for line in lines:
        if pending and (len(pending) >= MAX_FRAME_PLAYS or size + len(line) + 1 > MAX_FRAME_BYTES):
            yield SEPARATOR.join(pending)
            pending, size = [], 0
        pending.append(line)
        size += len(line) + 1
    if pending:
        yield SEPARATOR.join(pending)


def frame_lines(value: bytes) -> list[bytes]:
    """The play lines of a frame."""
    return value.split(SEPARATOR)


def decode_frame(value: bytes | None) -> list[AcceptedPlay]:
    """Every play of a frame, each decoded by the protocol; DecodeError names the bad line.

    Strict about the layout, so a reader can check it at the byte level: each line is one
    JSON object from its ``{`` to its ``}``, and lines are joined by a single ``\n``.
    """
    if value is None:
        raise DecodeError("empty message")
    if len(value) > MAX_FRAME_BYTES:
        raise DecodeError(
            f"frame of {len(value)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit",
            ErrorCode.MESSAGE_TOO_LARGE,
        )
    if not value:
        raise DecodeError("a frame with no plays")
    lines = frame_lines(value)
    if len(lines) > MAX_FRAME_PLAYS:
        raise DecodeError(f"frame of {len(lines)} plays exceeds the {MAX_FRAME_PLAYS}-play limit")
    return [_play(number, line) for number, line in enumerate(lines, start=1)]


def _play(number: int, line: bytes) -> AcceptedPlay:
    if not (line.startswith(b"{") and line.endswith(b"}")):
        raise DecodeError(f"play {number} of the frame: not one JSON object from {{ to }}")
    try:
        return decode(line, AcceptedPlay, max_bytes=MAX_FRAME_BYTES)
    except DecodeError as exc:
        raise DecodeError(f"play {number} of the frame: {exc}", exc.code) from exc
