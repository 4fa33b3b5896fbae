"""Plain words for everything that can go wrong, translated through Qt."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.protocol.errors import ErrorCode, ErrorInfo

# Every string is a literal translate("Wording", ...) call: lupdate only extracts those.
translate = QCoreApplication.translate


def _server_words(code: ErrorCode) -> str:
    # Written out in full (not a table built at import) so lupdate sees every string
    # and the translation is looked up in the language active now.
    match code:
        case ErrorCode.INVALID_USERNAME:
            return translate(
                "Wording",
                "A username has 3 to 32 characters: letters A-Z, digits, '.', '_' or '-',"
                " starting with a letter or digit.",
            )
        case ErrorCode.INVALID_EMAIL:
            return translate("Wording", "That doesn't look like an e-mail address.")
        case ErrorCode.WEAK_PASSWORD:
            return translate(
                "Wording", "A password has at least 8 characters (and at most 72 bytes)."
            )
        case ErrorCode.USERNAME_TAKEN:
            return translate("Wording", "That username is already taken. Try another one.")
        case ErrorCode.EMAIL_TAKEN:
            return translate(
                "Wording", "An account with that e-mail already exists. Log in instead?"
            )
        case ErrorCode.INVALID_CREDENTIALS:
            return translate("Wording", "Wrong username, e-mail or password.")
        case ErrorCode.THROTTLED | ErrorCode.RATE_LIMITED:
            return translate("Wording", "Too many attempts. Please wait a moment and try again.")
        case ErrorCode.INVALID_SESSION | ErrorCode.SESSION_EXPIRED | ErrorCode.REPLAYED:
            return translate("Wording", "Your session has ended. Please log in again.")
        case ErrorCode.DECRYPTION_FAILED:
            return translate(
                "Wording", "The server could not read the request. Please log in again."
            )
        case ErrorCode.UNKNOWN_TRACK | ErrorCode.GENRE_MISMATCH:
            return translate("Wording", "The server doesn't know that track. Refresh the shelves.")
        case ErrorCode.BAD_EVENT_TIME | ErrorCode.LATE_EVENT:
            return translate(
                "Wording", "Your computer's clock seems to be wrong, so the play was not counted."
            )
        case ErrorCode.DUPLICATE_EVENT:
            return translate("Wording", "That play was already counted.")
        case ErrorCode.FORGED_EVENT:
            return translate("Wording", "The server did not accept the play. Please log in again.")
        case ErrorCode.UNAVAILABLE | ErrorCode.INTERNAL_ERROR:
            return translate(
                "Wording", "The server has a problem right now. Please try again shortly."
            )
        case _:
            return translate("Wording", "The server refused the request.")


def server_error(info: ErrorInfo) -> str:
    words = _server_words(info.code)
    if info.retry_after_s:
        seconds = max(1, round(info.retry_after_s))
        words += " " + translate("Wording", "Try again in %n second(s).", None, seconds)
    return words


def failure(error: GatewayError) -> str:
    if error.kind is FailureKind.REJECTED and error.info is not None:
        return server_error(error.info)
    if error.kind is FailureKind.TIMEOUT:
        return translate("Wording", "The server didn't answer in time. Is it running?")
    return translate("Wording", "Can't reach the message broker. Check your connection.")


def field_problem(code: ErrorCode) -> str:
    return _server_words(code)


def session_ends_with(error: GatewayError) -> bool:
    """Errors after which the session is useless and the user must log in again."""
    return error.info is not None and error.info.code in {
        ErrorCode.INVALID_SESSION,
        ErrorCode.SESSION_EXPIRED,
        ErrorCode.FORGED_EVENT,
        ErrorCode.DECRYPTION_FAILED,
    }


def connection_status(error: GatewayError | None, retrying: bool = True, known: bool = True) -> str:
    """The status line: how the link to the system is, and whether we keep trying."""
    if error is None:
        if not known:
            return translate("Wording", "Connecting…")
        return translate("Wording", "Connected")
    if error.kind is FailureKind.TIMEOUT:
        if retrying:
            return translate("Wording", "The server isn't answering. Retrying…")
        return translate("Wording", "The server isn't answering. Is it running?")
    if retrying:
        return translate("Wording", "Can't reach the message broker. Retrying…")
    return translate("Wording", "Can't reach the message broker. Check your connection.")
