"""OffsetTracker: commit positions never skip a request still in flight."""

from __future__ import annotations

from bluetrack.server.offsets import OffsetTracker


def test_out_of_order_completion_commits_only_below_the_oldest_in_flight() -> None:
    tracker = OffsetTracker()
    for offset in (5, 6, 7):
        tracker.started("login_user", 0, offset)
    tracker.finished("login_user", 0, 7)
    assert tracker.committable() == {("login_user", 0): 5}
    tracker.finished("login_user", 0, 5)
    assert tracker.committable() == {("login_user", 0): 6}
    tracker.finished("login_user", 0, 6)
    assert tracker.committable() == {("login_user", 0): 8}
    assert tracker.committable() == {}, "nothing new to offer"
    assert tracker.in_flight() == 0


def test_partitions_are_independent() -> None:
    tracker = OffsetTracker()
    tracker.started("songs_update", 0, 1)
    tracker.started("songs_update", 1, 9)
    tracker.finished("songs_update", 1, 9)
    assert tracker.committable() == {("songs_update", 0): 1, ("songs_update", 1): 10}


def test_reset_forgets_revoked_partitions() -> None:
    tracker = OffsetTracker()
    tracker.started("session_auth", 0, 3)
    tracker.reset()
    tracker.finished("session_auth", 0, 3)  # a late finish after the revoke is ignored
    assert tracker.committable() == {}
