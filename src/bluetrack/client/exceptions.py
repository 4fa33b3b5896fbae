"""The one error the GUI sees from the gateway: what went wrong, in a form views can word."""

from __future__ import annotations

from enum import StrEnum

from bluetrack.errors import BlueTrackError
from bluetrack.protocol.errors import ErrorInfo


class FailureKind(StrEnum):
    REJECTED = "rejected"  # the server answered with an error reply
    TIMEOUT = "timeout"  # the request went out but no reply came in time
    UNAVAILABLE = "unavailable"  # the broker could not be reached at all


class ClientError(BlueTrackError):
    """Base of the desktop client's errors."""


class GatewayError(ClientError):
    """A gateway call failed; ``info`` is the server's error when it sent one."""

    def __init__(self, kind: FailureKind, detail: str, info: ErrorInfo | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.info = info

    @property
    def transient(self) -> bool:
        """Worth retrying by itself later: the system, not the request, was at fault."""
        return self.kind is not FailureKind.REJECTED
