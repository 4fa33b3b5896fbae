"""SessionCache: store lookups only for unknown or expired sessions; stale ones re-read behind."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bluetrack.protocol import sealing
from bluetrack.server.session_cache import SessionCache
from bluetrack.server.testing import FakeClock
from bluetrack.store.sessions import InMemorySessions, SessionRecord

MASTER = b"m" * 32


def setup(ttl_s: int = 3600) -> tuple[FakeClock, InMemorySessions, SessionCache, SessionRecord]:
    clock = FakeClock()
    store = InMemorySessions()
    now = clock.now()
    record = SessionRecord(
        "session-01", "user-0001", "alice", "hash", now, now + timedelta(seconds=ttl_s)
    )
    store.create(record)
    cache = SessionCache(store, MASTER, recheck_s=30, clock=clock.monotonic)
    return clock, store, cache, record


def test_a_known_session_is_served_from_memory_with_its_play_key() -> None:
    clock, store, cache, record = setup()
    first = cache.lookup(record.session_id, clock.now())
    assert first is not None and first.user_id == "user-0001" and first.username == "alice"
    assert first.play_key == sealing.play_key_for(MASTER, record.session_id)
    clock.advance(60)
    assert cache.lookup(record.session_id, clock.now()) == first
    assert store.lookups == 1


def test_an_expired_entry_is_looked_up_again_and_may_have_been_extended() -> None:
    clock, store, cache, record = setup(ttl_s=10)
    cache.lookup(record.session_id, clock.now())
    later = clock.now() + timedelta(hours=1)
    store.sessions[record.session_id] = replace(record, expires_at=later)  # another process
    clock.advance(11)
    live = cache.lookup(record.session_id, clock.now())
    assert live is not None and live.expires_at == later
    assert store.lookups == 2


def test_the_background_pass_rereads_stale_entries_and_forgets_unknown_ids() -> None:
    clock, store, cache, record = setup()
    cache.refresh([record.session_id, "forged-session-id"], clock.now())
    assert cache.get("forged-session-id") is None
    clock.advance(10)
    assert cache.refresh_stale() == 0, "nothing is stale yet"
    store.delete(record.session_id)
    clock.advance(25)
    assert cache.refresh_stale() == 2
    assert cache.get(record.session_id) is None
    assert store.lookups == 2


def test_own_logins_logouts_and_extensions_apply_at_once() -> None:
    clock, store, cache, record = setup()
    cache.remember(record)
    assert cache.lookup(record.session_id, clock.now()) is not None
    later = clock.now() + timedelta(days=1)
    cache.extended(record.session_id, later)
    live = cache.get(record.session_id)
    assert live is not None and live.expires_at == later
    cache.invalidate(record.session_id)
    assert cache.lookup(record.session_id, clock.now()) is None
    assert store.lookups == 0
