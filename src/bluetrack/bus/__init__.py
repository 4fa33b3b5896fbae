"""Kafka plumbing: factories with safe defaults, request/reply, charts, dead letters."""

from bluetrack.bus.exceptions import (
    BusError,
    BusUnavailable,
    ProduceError,
    RequestFailed,
    RequestTimeout,
)
from bluetrack.bus.session import Session

__all__ = [
    "BusError",
    "BusUnavailable",
    "ProduceError",
    "RequestFailed",
    "RequestTimeout",
    "Session",
]
