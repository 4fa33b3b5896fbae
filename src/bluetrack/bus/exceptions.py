"""Errors of the Kafka layer, wrapping librdkafka's with their codes kept."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError
from bluetrack.protocol.errors import ErrorInfo


class BusError(BlueTrackError):
    """Something went wrong talking to Kafka."""


class BusUnavailable(BusError):
    """The broker (or the server behind it) cannot be reached right now."""


class RequestTimeout(BusError):
    """No reply arrived in time."""


class RequestFailed(BusError):
    """The server answered with an error; ``info`` carries its code and message."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(f"{info.code.value}: {info.message}")
        self.info = info


class ProduceError(BusError):
    """A message could not be delivered; ``code`` is librdkafka's error name."""

    def __init__(self, message: str, code: str | None = None, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.code = code
        # The producer itself is unusable from now on (an idempotent producer's fatal error,
        # e.g. after a broker crash put its sequence numbers out of step): make a new one.
        self.fatal = fatal
