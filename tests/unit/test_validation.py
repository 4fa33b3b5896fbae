"""The account and play-event rules of bluetrack.core.validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bluetrack.core import validation as v
from bluetrack.protocol.errors import ErrorCode

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = v.TimeRules.of(clock_skew_s=30, max_event_age_s=3600)


@pytest.mark.parametrize("name", ["abc", "Alice", "bob_the-builder.2", "x" * 32, "007agent"])
def test_valid_usernames_pass(name: str) -> None:
    assert v.check_username(name) is None


@pytest.mark.parametrize(
    "name",
    ["ab", "x" * 33, "", "has space", "ünïcode", "a@b", "_leading", ".dot", "tab\tname", "nl\n"],
)
def test_invalid_usernames_name_the_rule(name: str) -> None:
    violation = v.check_username(name)
    assert violation is not None
    assert violation.code is ErrorCode.INVALID_USERNAME
    assert "username" in violation.message


def test_username_key_ignores_case() -> None:
    assert v.username_key("Alice") == v.username_key("ALICE") == v.username_key("alice")
    assert v.username_key("alice") != v.username_key("alice2")


@pytest.mark.parametrize(
    "email",
    ["a@example.com", "First.Last+tag@Sub.Example.CO.uk", "x_y@a-b.pl", " padded@example.com "],
)
def test_valid_emails_pass(email: str) -> None:
    assert v.check_email(email) is None


@pytest.mark.parametrize(
    "email",
    [
        "plain",
        "@example.com",
        "a@",
        "a@localhost",
        "a..b@example.com",
        ".a@example.com",
        "a@-example.com",
        "a@example.c0m",
        "a b@example.com",
        "a@b@example.com",
        "a@exa\nmple.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_invalid_emails_name_the_rule(email: str) -> None:
    violation = v.check_email(email)
    assert violation is not None
    assert violation.code is ErrorCode.INVALID_EMAIL


def test_email_normalisation_and_key() -> None:
    assert v.normalize_email("  Bob@Example.COM ") == "Bob@example.com"
    assert v.email_key("Bob@Example.COM") == v.email_key("bob@example.com")


def test_login_kind_is_decided_by_the_at_sign() -> None:
    assert v.is_email_login("bob@example.com")
    assert not v.is_email_login("bob")


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("1234567", False),
        ("12345678", True),
        ("x" * 72, True),
        ("x" * 73, False),
        ("é" * 37, False),
    ],
)
def test_password_rules(password: str, ok: bool) -> None:
    violation = v.check_password(password)
    assert (violation is None) is ok
    if violation is not None:
        assert violation.code is ErrorCode.WEAK_PASSWORD


def test_violation_becomes_error_info() -> None:
    info = v.Violation(ErrorCode.WEAK_PASSWORD, "too short").info()
    assert info.code is ErrorCode.WEAK_PASSWORD
    assert info.message == "too short"


def test_sane_event_times_pass() -> None:
    assert v.check_event_times(NOW - timedelta(minutes=3), NOW, NOW, RULES) is None
    assert v.check_event_times(NOW, NOW + timedelta(seconds=29), NOW, RULES) is None


@pytest.mark.parametrize(
    ("start", "event", "fragment"),
    [
        (NOW, NOW + timedelta(seconds=31), "ahead"),
        (NOW - timedelta(hours=2), NOW - timedelta(hours=1, seconds=1), "older"),
        (NOW, NOW - timedelta(seconds=1), "start_time"),
    ],
)
def test_insane_event_times_fail(start: datetime, event: datetime, fragment: str) -> None:
    violation = v.check_event_times(start, event, NOW, RULES)
    assert violation is not None
    assert violation.code is ErrorCode.BAD_EVENT_TIME
    assert fragment in violation.message


def test_duration_must_match_the_catalogue() -> None:
    assert v.check_duration(230_666, 230_666) is None
    violation = v.check_duration(1, 230_666)
    assert violation is not None and violation.code is ErrorCode.BAD_EVENT_TIME
