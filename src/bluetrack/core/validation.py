"""The account and play-event rules, each failure an ErrorCode plus a sentence for people.

Everything here is pure: no I/O, no clock of its own (callers pass ``now``), so the server,
the client (to warn before sending) and the tests share one definition of "valid".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from bluetrack.protocol.errors import ErrorCode, ErrorInfo

USERNAME_MIN = 3
USERNAME_MAX = 32
PASSWORD_MIN = 8
# bcrypt only reads the first 72 bytes; refusing longer passwords beats silently ignoring
# the tail (and bcrypt >= 5 raises on them anyway).
PASSWORD_MAX_BYTES = 72
EMAIL_MAX = 254
EMAIL_LOCAL_MAX = 64

# ASCII only, starting with a letter or digit: no look-alike Unicode names, and no "@",
# so a login string is unambiguously a username or an e-mail address.
_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# A pragmatic subset of RFC 5322 addresses: dot-atom local part, dotted DNS domain, a TLD.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_LOCAL_RE = re.compile(rf"{_ATEXT}(\.{_ATEXT})*")
_DOMAIN_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD_RE = re.compile(r"[A-Za-z]{2,63}")
# All patterns are used with fullmatch: "$" would let a trailing newline through.


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the code machines branch on and the message people read."""

    code: ErrorCode
    message: str

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message)


# --- usernames ------------------------------------------------------------------------------
def username_key(username: str) -> str:
    """The uniqueness key: "Alice", "ALICE" and "alice" are one account."""
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def check_username(username: str) -> Violation | None:
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return Violation(
            ErrorCode.INVALID_USERNAME,
            f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters"
            f" (this one has {len(username)})",
        )
    if not _USERNAME_RE.fullmatch(username):
        return Violation(
            ErrorCode.INVALID_USERNAME,
            "a username uses only letters A-Z, digits, '.', '_' and '-',"
            " and starts with a letter or digit",
        )
    return None


# --- e-mail addresses -----------------------------------------------------------------------
def normalize_email(email: str) -> str:
    """What we store: surrounding spaces dropped, the domain (case-insensitive by DNS) lowered."""
    local, sep, domain = email.strip().rpartition("@")
    return f"{local}{sep}{domain.lower()}" if sep else email.strip()


def email_key(email: str) -> str:
    """The uniqueness key. Local parts are case-sensitive in theory, never in practice."""
    return normalize_email(email).casefold()


def check_email(email: str) -> Violation | None:
    address = normalize_email(email)
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not domain:
        return _bad_email("it needs exactly one '@' with a name before and a domain after it")
    if len(address) > EMAIL_MAX or len(local) > EMAIL_LOCAL_MAX:
        return _bad_email(f"it is too long (at most {EMAIL_MAX} characters)")
    if not _EMAIL_LOCAL_RE.fullmatch(local):
        return _bad_email("the part before '@' has characters or dots that are not allowed")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL_RE.fullmatch(label) for label in labels):
        return _bad_email("the domain after '@' is not a valid host name such as example.com")
    if not _TLD_RE.fullmatch(labels[-1]):
        return _bad_email("the domain must end in a top-level domain such as .com or .pl")
    return None


def _bad_email(why: str) -> Violation:
    return Violation(ErrorCode.INVALID_EMAIL, f"not a valid e-mail address: {why}")


def is_email_login(login: str) -> bool:
    """Usernames cannot contain '@', so the login form needs no "name or e-mail?" switch."""
    return "@" in login


# --- passwords ------------------------------------------------------------------------------
def check_password(password: str) -> Violation | None:
    if len(password) < PASSWORD_MIN:
        return Violation(
            ErrorCode.WEAK_PASSWORD, f"a password has at least {PASSWORD_MIN} characters"
        )
    if len(password.encode("utf-8")) > PASSWORD_MAX_BYTES:
        return Violation(
            ErrorCode.WEAK_PASSWORD,
            f"a password has at most {PASSWORD_MAX_BYTES} bytes (about as many ASCII characters)",
        )
    return None


# --- play events ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TimeRules:
    """How far event time may stray from the server's clock."""

    clock_skew: timedelta
    max_event_age: timedelta

    @classmethod
    def of(cls, clock_skew_s: float, max_event_age_s: float) -> TimeRules:
        return cls(timedelta(seconds=clock_skew_s), timedelta(seconds=max_event_age_s))


def check_event_times(
    start_time: datetime, event_time: datetime, now: datetime, rules: TimeRules
) -> Violation | None:
    if event_time > now + rules.clock_skew:
        return Violation(
            ErrorCode.BAD_EVENT_TIME,
            f"event_time is {(event_time - now).total_seconds():.0f}s ahead of the server clock"
            f" (at most {rules.clock_skew.total_seconds():.0f}s allowed)",
        )
    if event_time < now - rules.max_event_age:
        return Violation(
            ErrorCode.BAD_EVENT_TIME,
            f"event_time is older than {rules.max_event_age.total_seconds():.0f}s",
        )
    if start_time > event_time:
        return Violation(ErrorCode.BAD_EVENT_TIME, "start_time is after event_time")
    return None


def check_duration(duration_ms: int, catalogue_duration_ms: int) -> Violation | None:
    if duration_ms != catalogue_duration_ms:
        return Violation(
            ErrorCode.BAD_EVENT_TIME,
            f"duration_ms {duration_ms} is not the track's duration ({catalogue_duration_ms})",
        )
    return None
