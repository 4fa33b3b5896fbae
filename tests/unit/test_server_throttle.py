"""Throttling, rate limiting and replay memory (bluetrack.core.throttle / core.replay)."""

from __future__ import annotations

import pytest

from bluetrack.core.replay import ReplayGuard
from bluetrack.core.throttle import BackoffPolicy, FailureThrottle, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


POLICY = BackoffPolicy(free_failures=3, window_s=900, base_delay_s=1.0, max_delay_s=60)


def test_delay_grows_after_the_free_failures() -> None:
    delays = [POLICY.delay_after(n) for n in range(1, 11)]
    assert delays == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_huge_failure_counts_do_not_overflow() -> None:
    assert POLICY.delay_after(10**9) == 60


def test_failures_throttle_until_the_delay_passes() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(POLICY, clock)
    for _ in range(3):
        assert throttle.retry_after("acct:alice") == 0
        throttle.record_failure("acct:alice")
    assert throttle.retry_after("acct:alice") == pytest.approx(1.0)
    clock.advance(1.0)
    assert throttle.retry_after("acct:alice") == 0
    assert throttle.record_failure("acct:alice") == 2.0
    assert throttle.retry_after("acct:alice") == pytest.approx(2.0)
    assert throttle.retry_after("acct:bob") == 0, "other keys are not affected"


def test_a_quiet_window_forgets_failures() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(POLICY, clock)
    for _ in range(5):
        throttle.record_failure("k")
    clock.advance(900)
    assert throttle.failures("k") == 0
    assert throttle.retry_after("k") == 0


def test_clear_resets_a_key_and_prune_drops_stale_ones() -> None:
    clock = FakeClock()
    throttle = FailureThrottle(POLICY, clock)
    throttle.record_failure("a")
    throttle.record_failure("b")
    throttle.clear("a")
    assert throttle.failures("a") == 0
    clock.advance(901)
    assert throttle.prune() == 1
    assert len(throttle) == 0


def test_throttle_memory_is_bounded() -> None:
    throttle = FailureThrottle(POLICY, FakeClock(), max_keys=10)
    for i in range(100):
        throttle.record_failure(f"client-{i}")
    assert len(throttle) == 10
    assert throttle.failures("client-99") == 1


def test_rate_limiter_allows_a_burst_then_refills() -> None:
    clock = FakeClock()
    limiter = RateLimiter(capacity=5, period_s=60, clock=clock)
    assert [limiter.acquire("c") for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("c") == pytest.approx(12.0)
    clock.advance(12.0)
    assert limiter.acquire("c") == 0.0
    assert limiter.acquire("other") == 0.0


def test_rate_limiter_prunes_full_buckets() -> None:
    clock = FakeClock()
    limiter = RateLimiter(capacity=2, period_s=60, clock=clock)
    limiter.acquire("a")
    clock.advance(60)
    assert limiter.prune() == 1
    assert len(limiter) == 0


def test_rate_limiter_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        RateLimiter(capacity=0, period_s=60)


def test_replay_guard_refuses_repeats_within_the_horizon() -> None:
    clock = FakeClock()
    guard = ReplayGuard(60, buckets=6, clock=clock)
    assert guard.check_and_remember("e1")
    assert not guard.check_and_remember("e1")
    clock.advance(59)
    assert guard.seen("e1")
    clock.advance(11)
    guard.remember("e2")  # expiry happens on writes
    assert not guard.seen("e1")
    assert guard.seen("e2")
    assert len(guard) == 1


def test_replay_guard_forget_undoes_remember() -> None:
    guard = ReplayGuard(60, clock=FakeClock())
    guard.remember("a")
    guard.remember("b")
    guard.forget(["a", "zzz"])
    assert not guard.seen("a")
    assert guard.seen("b")
    assert len(guard) == 1


def test_replay_guard_remember_many_is_remember_of_each() -> None:
    clock = FakeClock()
    one, many = ReplayGuard(60, buckets=6, clock=clock), ReplayGuard(60, buckets=6, clock=clock)
    for batch in (["a", "b", "a"], [], ["b", "c"]):
        for item in batch:
            one.remember(item)
        many.remember_many(batch)
        clock.advance(11)
    assert len(many) == len(one)
    assert [many.seen(i) for i in "abcd"] == [one.seen(i) for i in "abcd"] == [1, 1, 1, 0]
    clock.advance(80)
    many.remember_many(["d"])
    assert not many.seen("a") and many.seen("d") and len(many) == 1


def test_replay_guard_is_bounded() -> None:
    clock = FakeClock()
    guard = ReplayGuard(100, buckets=10, max_entries=25, clock=clock)
    for i in range(50):
        guard.remember(f"id-{i}")
        clock.advance(1)
    assert len(guard) <= 25
    assert guard.evicted >= 25
    assert guard.seen("id-49")


def test_attempt_counts_up_front_so_parallel_guesses_are_capped() -> None:
    throttle = FailureThrottle(POLICY, FakeClock())
    # Ten guesses arrive together, none has finished hashing yet: only the free ones pass.
    waits = [throttle.attempt("acct:a", "client:x") for _ in range(10)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(w > 0 for w in waits[3:])
    assert throttle.failures("acct:a") == 3


def test_attempt_is_refused_if_any_key_is_throttled() -> None:
    throttle = FailureThrottle(POLICY, FakeClock())
    for _ in range(4):
        throttle.record_failure("client:x")
    assert throttle.attempt("acct:fresh", "client:x") > 0
    assert throttle.failures("acct:fresh") == 0, "a refused attempt counts nothing"


def test_success_clears_the_account_and_forgives_one_client_failure() -> None:
    throttle = FailureThrottle(POLICY, FakeClock())
    throttle.record_failure("client:x")
    throttle.attempt("acct:a", "client:x")
    throttle.succeeded(clear="acct:a", forgive="client:x")
    assert throttle.failures("acct:a") == 0
    assert throttle.failures("client:x") == 1
    throttle.succeeded(clear="acct:a", forgive="client:x")
    assert throttle.failures("client:x") == 0


def test_replay_guard_keeps_an_id_remembered_again_until_its_newest_bucket_expires() -> None:
    clock = FakeClock()
    guard = ReplayGuard(60, buckets=6, clock=clock)
    guard.remember("a")
    clock.advance(40)
    guard.remember("a")  # in a newer bucket now
    clock.advance(40)  # the first bucket has expired, the second has not
    guard.remember("b")
    assert guard.seen("a") and len(guard) == 2
    clock.advance(40)
    guard.remember("c")
    assert not guard.seen("a") and guard.seen("b") and len(guard) == 2
