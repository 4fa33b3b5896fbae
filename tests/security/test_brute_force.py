"""Online guessing and registration spam against a real server (docs/security.md).

tests/integration/test_server.py::test_throttling shows the first delay on one account; here
the whole curve is measured: how many guesses are free, and how long each lockout really
lasts as guessing goes on -- per account, and per client for a client spraying guesses over
many accounts -- and how registrations from one client are limited.

The figures are printed (``-s`` shows them); the assertions hold them to the policy:
``login_max_failures`` free failures, then ``login_base_delay_s`` doubling per failure.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from security_support import PASSWORD, unique
from server_harness import import_test_catalogue, running_server, server_settings

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.exceptions import RequestFailed
from bluetrack.config import Settings
from bluetrack.protocol.errors import ErrorCode
from bluetrack.server.runner import Server

pytestmark = pytest.mark.integration

FREE_FAILURES = 3
BASE_DELAY_S = 1.0
REGISTRATIONS_PER_MINUTE = 3
POLL_S = 0.05


@pytest.fixture(scope="module")
def db(mongo_client: Any) -> Iterator[Any]:
    name = f"test_brute_{uuid.uuid4().hex[:12]}"
    import_test_catalogue(mongo_client[name], per_genre=1)
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def settings(stack_settings: Settings, db: Any) -> Settings:
    made: Settings = server_settings(
        stack_settings,
        db.name,
        login_max_failures=FREE_FAILURES,
        login_base_delay_s=BASE_DELAY_S,
        login_failure_window_s=60,
        register_per_client_per_minute=REGISTRATIONS_PER_MINUTE,
    )
    return made


@pytest.fixture(scope="module")
def server(settings: Settings, db: Any) -> Iterator[Server]:
    with running_server(settings) as running:
        yield running


@pytest.fixture
def clients(settings: Settings, server: Server) -> Iterator[list[BlueTrackClient]]:
    made = [BlueTrackClient(settings) for _ in range(3)]
    yield made
    for client in made:
        client.close()


@dataclass(frozen=True, slots=True)
class Answer:
    code: ErrorCode | None  # None: logged in
    retry_after_s: float | None


def login(client: BlueTrackClient, name: str, password: str) -> Answer:
    try:
        client.login(name, password)
    except RequestFailed as exc:
        return Answer(exc.info.code, exc.info.retry_after_s)
    return Answer(None, None)


@dataclass(slots=True)
class Lockout:
    retry_after_s: float  # what the first refusal said
    lasted_s: float  # from the failure that caused it until a guess was evaluated again
    refusals: int  # guesses refused unevaluated meanwhile


def guess_through_lockouts(
    client: BlueTrackClient, logins: Iterator[str], lockouts: int
) -> tuple[int, list[Lockout]]:
    """Guess wrong passwords as fast as replies come; polls through each lockout.

    Returns how many guesses were evaluated before the first lockout, and every lockout.
    """
    free = 0
    seen: list[Lockout] = []
    last_failure = time.monotonic()
    while len(seen) < lockouts:
        answer = login(client, next(logins), "not-the-password")
        if answer.code is ErrorCode.INVALID_CREDENTIALS:
            last_failure = time.monotonic()
            free += not seen
            continue
        assert answer.code is ErrorCode.THROTTLED, answer
        assert answer.retry_after_s is not None
        lockout = Lockout(answer.retry_after_s, 0.0, 1)
        while (answer := login(client, next(logins), "not-the-password")).code is (
            ErrorCode.THROTTLED
        ):
            lockout.refusals += 1
            time.sleep(POLL_S)
        assert answer.code is ErrorCode.INVALID_CREDENTIALS, answer
        lockout.lasted_s = time.monotonic() - last_failure
        last_failure = time.monotonic()
        seen.append(lockout)
    return free, seen


def _check_growth(free: int, lockouts: list[Lockout], what: str) -> None:
    print(
        f"\n{what}: {free} guesses evaluated before the first lockout; lockouts "
        + ", ".join(
            f"{lo.retry_after_s:.2f}s said / {lo.lasted_s:.2f}s lasted / {lo.refusals} refused"
            for lo in lockouts
        )
    )
    assert free == FREE_FAILURES
    for number, lockout in enumerate(lockouts):
        policy = BASE_DELAY_S * 2**number
        # The server's own figure is the policy's delay less the time the guess took to ask.
        assert policy - min(policy / 2, 0.75) <= lockout.retry_after_s <= policy, (number, lockout)
        # A refused guess is not evaluated, so polling cannot shorten the lockout.
        assert lockout.lasted_s >= policy - 0.05, (number, lockout)
        assert lockout.refusals >= 1


def test_guesses_at_one_account_wait_longer_and_longer(clients: list[BlueTrackClient]) -> None:
    owner, attacker, _ = clients
    name = unique("victim")
    owner.register(name, f"{name}@example.com", PASSWORD)

    def the_victim() -> Iterator[str]:
        while True:
            yield name

    free, lockouts = guess_through_lockouts(attacker, the_victim(), lockouts=4)
    _check_growth(free, lockouts, "one account")
    # Locked: even the right password from the owner's own client waits (per account) ...
    answer = login(owner, name, PASSWORD)
    assert answer.code is ErrorCode.THROTTLED and answer.retry_after_s is not None
    assert answer.retry_after_s > BASE_DELAY_S * 2**3


def test_one_client_spraying_many_accounts_is_slowed_down(
    clients: list[BlueTrackClient],
) -> None:
    sprayer, bystander, _ = clients
    name = unique("sprayed")
    bystander.register(name, f"{name}@example.com", PASSWORD)

    def fresh_accounts() -> Iterator[str]:
        while True:
            yield unique("nobody")  # unknown logins: each one fails once only

    free, lockouts = guess_through_lockouts(sprayer, fresh_accounts(), lockouts=3)
    _check_growth(free, lockouts, "one client, a new account per guess")
    # The sprayer's client is locked even with a right password, while another client
    # logs in to the same account at once.
    assert login(sprayer, name, PASSWORD).code is ErrorCode.THROTTLED
    assert login(bystander, name, PASSWORD).code is None


def test_registrations_from_one_client_are_rate_limited(
    clients: list[BlueTrackClient],
) -> None:
    spammer, other, _ = clients
    answers: list[tuple[ErrorCode | None, float | None]] = []
    for _ in range(REGISTRATIONS_PER_MINUTE + 3):
        name = unique("spam")
        try:
            spammer.register(name, f"{name}@example.com", PASSWORD)
            answers.append((None, None))
        except RequestFailed as exc:
            answers.append((exc.info.code, exc.info.retry_after_s))
    print(f"\nregistrations from one client: {answers}")
    assert [code for code, _ in answers] == [None] * REGISTRATIONS_PER_MINUTE + [
        ErrorCode.RATE_LIMITED
    ] * 3
    refill_s = 60.0 / REGISTRATIONS_PER_MINUTE
    for _, wait in answers[REGISTRATIONS_PER_MINUTE:]:
        assert wait is not None and refill_s - 5 < wait <= refill_s
    # Invalid registrations spend the budget too: spam cannot probe names for free.
    with pytest.raises(RequestFailed) as invalid:
        spammer.register("x", "bad", "short")
    assert invalid.value.info.code is ErrorCode.RATE_LIMITED
    name = unique("fine")
    assert other.register(name, f"{name}@example.com", PASSWORD).username == name  # per client
