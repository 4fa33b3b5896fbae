"""What handling a message produces: records to send, as plain data (no broker needed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from bluetrack.protocol.envelope import Reply


class Outgoing(NamedTuple):
    """One record to produce. A tuple: the plays path builds 50k of these a second."""

    topic: str
    key: str | None
    value: bytes
    # Delivered before the request's reply is sent (what the request caused, e.g. a logout
    # play): a client that hears the reply can count on it being on Kafka.
    before_reply: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """A handler's reply plus anything else the request caused (e.g. a logout play)."""

    reply: Reply
    also: tuple[Outgoing, ...] = ()
    encoded: bytes | None = None  # the reply's bytes, when the handler had to encode it anyway
