"""The vectorised engine computes exactly the reference's charts (docs/charts.md).

Hypothesis writes play logs with everything that makes charts hard: several users switching
tracks, pausing, stopping and logging out; tracks running out; same-millisecond events;
events delayed inside and beyond the watermark; copies of events; random batch cuts,
empty batches, and restarts from the serialised state. Both sides get the same batches and
must produce identical charts, every batch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetrack.core.charts import PlayRecord, ReferenceCharts
from bluetrack.core.rules import Rules
from bluetrack.processor import engine as engine_module
from bluetrack.processor.engine import ChartEngine, frame_of

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
USERS = [f"user-{i}" for i in range(4)]
GENRES = ["blues", "jazz", "pop", "rock", "ska"]
OPERATIONS = ["start"] * 5 + ["stop", "end", "pause", "resume", "pause", "resume", "logout"]
DURATIONS_MS = [0, 1_000, 10_000, 29_999, 30_000, 30_001, 61_000, 200_000, 600_000]
STEPS_MS = [0, 0, 1, 999, 1_000, 5_000, 10_000, 29_999, 30_000, 45_000, 120_000, 400_000]
DELAYS_MS = [0, 0, 0, 0, 1_000, 4_000, 20_000, 29_999, 31_000, 60_000]

CI = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CI_VARIANT = settings(CI, max_examples=100)


@dataclass(frozen=True)
class PlayLog:
    rules: Rules
    batches: list[list[PlayRecord]]
    restarts: frozenset[int]  # restart the engine from its bytes before these batches
    shuffle_seed: int  # the engine gets each batch in another order


EVENT_SHAPES = st.tuples(
    st.sampled_from(STEPS_MS),
    st.sampled_from(USERS),
    st.sampled_from(OPERATIONS),
    st.sampled_from(DURATIONS_MS),
    st.sampled_from(GENRES),
)


@st.composite
def play_logs(draw: st.DrawFn) -> PlayLog:
    rules = Rules(
        window_s=draw(st.sampled_from([1, 60, 120, 900])),
        watermark_s=draw(st.sampled_from([0, 5, 30])),
        qualify_rule=draw(st.sampled_from(["spotify", "lastfm"])),
    )
    shapes = draw(st.lists(EVENT_SHAPES, max_size=36))
    n = len(shapes)
    time_ms, events = T0_MS, []
    for i, (step, user, operation, duration, genre) in enumerate(shapes):
        time_ms += step
        events.append(
            PlayRecord(
                event_id=f"event-{i:05d}",
                user_id=user,
                track_id="track-1",
                operation_type=operation,
                start_time_ms=time_ms,
                event_time_ms=time_ms,
                duration_ms=duration,
                genre=genre,
            )
        )
    # Arrival order: each event delayed, some past the watermark (those arrive late).
    delays = draw(st.lists(st.sampled_from(DELAYS_MS), min_size=n, max_size=n))
    arrival = [e for _, _, e in sorted(zip(delays, range(n), events, strict=True), key=_due)]
    for source, position in draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, n)))):
        if events:  # a copy of an event, delivered again somewhere later
            arrival.insert(position, events[source % len(events)])
    cuts = draw(st.lists(st.integers(0, len(arrival)), max_size=12))
    bounds = [0, *sorted(cuts), len(arrival)]  # repeated cuts make empty batches
    batches = [arrival[a:b] for a, b in pairwise(bounds)]
    restarts = draw(st.frozensets(st.integers(0, len(batches))))
    return PlayLog(rules, batches, restarts, draw(st.integers(0, 2**32)))


def _due(item: tuple[int, int, PlayRecord]) -> tuple[int, int]:
    delay, index, event = item
    return (event.event_time_ms + delay, index)


@contextmanager
def small_engine_limits() -> Iterator[None]:
    """Make the engine compact users and merge pending chunks at every chance."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ChartEngine, "COMPACT_MIN_DEAD", 0)
        patch.setattr(engine_module, "MAX_PENDING_CHUNKS", 2)
        yield


@CI
@given(play_logs())
def test_engine_charts_equal_the_reference_charts_every_batch(log: PlayLog) -> None:
    shuffle = random.Random(log.shuffle_seed).sample
    reference, engine = ReferenceCharts(log.rules), ChartEngine(log.rules)
    for batch_id, batch in enumerate(log.batches):
        if batch_id in log.restarts:
            engine = ChartEngine.from_bytes(engine.to_bytes(), log.rules)
        expected = reference.step(batch, batch_id)
        assert engine.step(frame_of(shuffle(batch, len(batch))), batch_id) == expected


@CI_VARIANT
@given(play_logs())
def test_equal_also_when_the_engine_compacts_and_merges_at_every_chance(log: PlayLog) -> None:
    reference = ReferenceCharts(log.rules)
    with small_engine_limits():
        engine = ChartEngine(log.rules)
        for batch_id, batch in enumerate(log.batches):
            if batch_id in log.restarts:
                engine = ChartEngine.from_bytes(engine.to_bytes())
            assert engine.step(frame_of(batch), batch_id) == reference.step(batch, batch_id)


@CI_VARIANT
@given(play_logs())
def test_a_batch_rerun_from_the_saved_state_gives_the_same_chart_and_state(
    log: PlayLog,
) -> None:
    engine = ChartEngine(log.rules)
    for batch_id, batch in enumerate(log.batches):
        saved = engine.to_bytes()
        chart = engine.step(frame_of(batch), batch_id)
        rerun = ChartEngine.from_bytes(saved)
        assert rerun.step(frame_of(batch), batch_id) == chart
        assert rerun.to_bytes() == engine.to_bytes()


def test_a_long_busy_log_stays_equal() -> None:
    """Many users, long tracks, chunk merging and compaction over hundreds of batches."""
    rng = random.Random(20260101)
    rules = Rules(window_s=60, watermark_s=5)
    reference = ReferenceCharts(rules)
    with small_engine_limits():
        engine = ChartEngine(rules)
        time_ms, serial = T0_MS, 0
        for batch_id in range(150):
            batch = []
            for _ in range(rng.randint(0, 25)):
                time_ms += rng.choice([0, 50, 200, 1_000])
                delay = rng.choice([0, 0, 0, 2_000, 6_000])
                batch.append(_random_event(rng, serial, time_ms - delay))
                serial += 1
            batch += rng.sample(batch, min(2, len(batch)))  # copies
            assert engine.step(frame_of(batch), batch_id) == reference.step(batch, batch_id)
            if batch_id % 40 == 39:
                engine = ChartEngine.from_bytes(engine.to_bytes())


def _random_event(rng: random.Random, serial: int, time_ms: int) -> PlayRecord:
    return PlayRecord(
        event_id=f"event-{serial:06d}",
        user_id=f"user-{rng.randrange(30)}",
        track_id="track-1",
        operation_type=rng.choice(OPERATIONS),
        start_time_ms=time_ms,
        event_time_ms=time_ms,
        duration_ms=rng.choice(DURATIONS_MS),
        genre=rng.choice(GENRES),
    )


def test_the_saved_state_names_its_rules_and_refuses_others() -> None:
    engine = ChartEngine(Rules(window_s=60))
    engine.step(frame_of([_random_event(random.Random(1), 0, T0_MS)]), 0)
    data = engine.to_bytes()
    assert ChartEngine.from_bytes(data).rules == Rules(window_s=60)
    with pytest.raises(ValueError, match="saved with"):
        ChartEngine.from_bytes(data, Rules())
    with pytest.raises(ValueError, match="magic"):
        ChartEngine.from_bytes(b"not a state")


def test_an_unknown_operation_is_refused() -> None:
    bad = PlayRecord("event-1", "user-1", "track-1", "rewind", T0_MS, T0_MS, 1_000, "pop")
    with pytest.raises(ValueError, match="rewind"):
        ChartEngine().step(frame_of([bad]), 0)


def test_state_rows_count_carried_plays_and_pending_events() -> None:
    engine = ChartEngine(Rules(watermark_s=30))
    start = PlayRecord("event-1", "user-1", "track-1", "start", T0_MS, T0_MS, 600_000, "pop")
    engine.step(frame_of([start]), 0)
    assert engine.state_rows() == 1  # the start, pending (inside the watermark)
    later = T0_MS + 60_000
    other = PlayRecord("event-2", "user-2", "track-1", "stop", later, later, 0, "")
    engine.step(frame_of([other]), 1)
    assert engine.state_rows() == 2  # user-1's play folded and carried; the stop pending
