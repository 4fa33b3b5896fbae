"""Server errors. ``Rejected`` is the expected kind: it becomes an error reply, not a log."""

from __future__ import annotations

from pymongo.errors import ConnectionFailure

from bluetrack.errors import BlueTrackError
from bluetrack.protocol.errors import ErrorCode, ErrorInfo


class ServerError(BlueTrackError):
    """Something is wrong with the server itself (configuration, startup, a dead store)."""


class Rejected(ServerError):
    """A request refused for a reason the client may know: code, message, maybe a wait.

    ``dead_letter`` marks refusals that look like tampering (a proof that does not open, a
    replay) so operators see them on the dead-letter topic, not only the client.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after_s: float | None = None,
        dead_letter: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s
        self.dead_letter = dead_letter

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=str(self)[:500], retry_after_s=self.retry_after_s)


# The store being down is not a bug: the client gets UNAVAILABLE and may retry; the log gets
# one line, not a stack trace per request.
STORE_DOWN: tuple[type[Exception], ...] = (ConnectionFailure,)
