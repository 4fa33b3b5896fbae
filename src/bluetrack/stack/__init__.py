"""Starting and stopping the local stack: Kafka, FerretDB, topics, catalogue, server, processor.

``up``, ``down`` and ``status`` serve `bluetrack up/down/status`; ``start_part``,
``stop_part`` and ``kill_part`` act on one part, for fault tests (kill -9 the broker, start
it again).
"""

from __future__ import annotations

from bluetrack.stack.exceptions import MissingBinary, PortInUse, StackError, StartFailed
from bluetrack.stack.lifecycle import (
    PARTS,
    PartStatus,
    down,
    kill_part,
    part_status,
    start_part,
    status,
    stop_part,
    up,
)

__all__ = [
    "PARTS",
    "MissingBinary",
    "PartStatus",
    "PortInUse",
    "StackError",
    "StartFailed",
    "down",
    "kill_part",
    "part_status",
    "start_part",
    "status",
    "stop_part",
    "up",
]
