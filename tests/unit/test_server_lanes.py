"""Lanes: logins and registrations never queue in front of songs requests."""

from __future__ import annotations

from bluetrack.protocol.topics import Topic
from bluetrack.server.lanes import Lanes


def test_password_hashing_requests_take_the_slow_lane() -> None:
    lanes = Lanes.for_workers(4)
    assert lanes.route(Topic.LOGIN_USER) is lanes.slow
    assert lanes.route(Topic.REGISTER_USER) is lanes.slow
    assert lanes.route(Topic.SONGS_UPDATE) is lanes.fast
    assert lanes.route(Topic.SESSION_AUTH) is lanes.fast


def test_a_full_slow_lane_pauses_only_itself_until_half_drained() -> None:
    lanes = Lanes.for_workers(2, cpus=2)  # slow lane holds 8
    for _ in range(8):
        lanes.started(lanes.slow)
    lanes.started(lanes.fast)
    assert lanes.to_pause() == [lanes.slow]
    assert lanes.to_pause() == [], "paused once, not on every poll"
    for _ in range(3):
        lanes.finished(lanes.slow)
    assert lanes.to_resume() == [], "5 of 8 still in flight"
    lanes.finished(lanes.slow)
    assert lanes.to_resume() == [lanes.slow]
    assert not lanes.slow.paused


def test_a_rebalance_forgets_pauses() -> None:
    lanes = Lanes.for_workers(1, cpus=1)
    for _ in range(4):
        lanes.started(lanes.slow)
    lanes.to_pause()
    lanes.forget_pauses()
    assert lanes.to_pause() == [lanes.slow], "still full: paused again on the new assignment"


def test_no_more_hashing_threads_than_cores() -> None:
    lanes = Lanes.for_workers(16, cpus=2)
    assert lanes.slow.workers == 2
    assert lanes.fast.workers == 16
