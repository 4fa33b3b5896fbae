"""Errors of the local stack; each message is one line a person can act on."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError


class StackError(BlueTrackError):
    """A part of the local stack could not be installed, started or stopped."""


class MissingBinary(StackError):
    """java, the Kafka jars or the FerretDB binary is not where setup puts it."""


class PortInUse(StackError):
    """Another program already listens on a port a part needs."""


class StartFailed(StackError):
    """A part exited, or did not become ready within ``start_timeout_s``."""
