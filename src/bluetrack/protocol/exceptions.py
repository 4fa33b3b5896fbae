"""Protocol errors. Each carries the ErrorCode that goes back over Kafka."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError
from bluetrack.protocol.errors import ErrorCode, ErrorInfo


class ProtocolError(BlueTrackError):
    code: ErrorCode = ErrorCode.INVALID_MESSAGE

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=str(self)[:500])


class DecodeError(ProtocolError):
    """Bytes that are not a valid message of the expected kind."""

    def __init__(
        self,
        message: str,
        code: ErrorCode = ErrorCode.INVALID_MESSAGE,
        *,
        request_id: str | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(message, code)
        # Where the bad message still names a valid reply address, we answer there.
        self.request_id = request_id
        self.client_id = client_id


class SealError(ProtocolError):
    code = ErrorCode.DECRYPTION_FAILED


class SealedContentError(ProtocolError):
    """A sealed box that opened to something other than the message it should hold."""

    code = ErrorCode.INVALID_MESSAGE
