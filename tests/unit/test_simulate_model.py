"""The listener model: Zipf taste and its drift, skips, determinism, well-formed sessions."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.simulate.model import (
    QUALIFY_S,
    REAL_TIME_S,
    Behaviour,
    GenrePopularity,
    PlannedEvent,
    plan_session,
    real_playback_s,
)

GENRES = [f"genre-{i:02d}" for i in range(20)]


def _shelves(genres: list[str] = GENRES, per_genre: int = 10, minutes: float = 3.5) -> list[Shelf]:
    return [
        Shelf(
            genre=g,
            tracks=[
                TrackSummary(
                    track_id=f"{g}-t{j}",
                    name=f"Song {j}",
                    artists=["Someone"],
                    album="Album",
                    duration_ms=int((minutes * 60 + 7 * j) * 1000),
                    genres=[g],
                )
                for j in range(per_genre)
            ],
        )
        for g in genres
    ]


SHELVES = _shelves()


def _plays(events: list[PlannedEvent]) -> dict[int, list[PlannedEvent]]:
    plays: dict[int, list[PlannedEvent]] = defaultdict(list)
    for e in events:
        plays[e.play].append(e)
    return plays


def _played_s(play: list[PlannedEvent]) -> float:
    """Playback seconds of one play, from its event times (speed 1)."""
    played = 0.0
    since: float | None = play[0].at_s  # None while paused
    for e in play[1:]:
        if e.operation in ("pause", "stop", "end") and since is not None:
            played += e.at_s - since
            since = None
        elif e.operation == "resume":
            since = e.at_s
    return played


def _assert_well_formed(events: list[PlannedEvent], horizon_s: float) -> None:
    times = [e.at_s for e in events]
    assert times == sorted(times)
    assert all(0 <= t <= horizon_s for t in times)
    active: int | None = None  # the play under way; at most one at a time
    paused = False
    for e in events:
        if e.operation == "start":
            assert active is None, "a play started while another was under way"
            active, paused = e.play, False
            continue
        assert e.play == active, f"{e.operation} outside its play"
        if e.operation == "pause":
            assert not paused
            paused = True
        elif e.operation == "resume":
            assert paused
            paused = False
        else:  # stop / end closes the play
            active = None
    assert active is None, "the session ended with a play still open"
    plays = _plays(events)
    assert sorted(plays) == list(range(len(plays)))
    for play in plays.values():
        assert len({(e.genre, e.track.track_id) for e in play}) == 1


# --- taste ------------------------------------------------------------------------------------
def test_without_drift_the_weights_are_zipf_over_the_seeded_ranking() -> None:
    popularity = GenrePopularity(7, Behaviour(zipf_exponent=1.2, drift_amplitude=0.0))
    weights = popularity.weights(GENRES, at_s=123.0)
    ranks = popularity.ranks(GENRES)
    assert sorted(ranks) == list(range(1, len(GENRES) + 1))
    top = int(np.argmin(ranks))
    for i, rank in enumerate(ranks):
        assert weights[top] / weights[i] == pytest.approx(rank**1.2)
    assert weights.sum() == pytest.approx(1.0)


def test_ranking_is_shared_by_listeners_whatever_genres_they_see() -> None:
    popularity = GenrePopularity(7, Behaviour())
    full_order = sorted(GENRES, key=lambda g: popularity.ranks(GENRES)[GENRES.index(g)])
    subset = full_order[::3][::-1]  # every third genre, offered in reverse
    sub_order = sorted(subset, key=lambda g: popularity.ranks(subset)[subset.index(g)])
    assert sub_order == full_order[::3]


def test_another_seed_ranks_genres_differently() -> None:
    behaviour = Behaviour()
    assert list(GenrePopularity(1, behaviour).ranks(GENRES)) != list(
        GenrePopularity(2, behaviour).ranks(GENRES)
    )


def test_fashions_drift_and_come_back_after_one_period() -> None:
    popularity = GenrePopularity(7, Behaviour(drift_period_s=600.0, drift_amplitude=1.0))
    leaders = {GENRES[int(np.argmax(popularity.weights(GENRES, t)))] for t in range(0, 600, 10)}
    assert len(leaders) >= 2, "the most popular genre never changed over a whole period"
    np.testing.assert_allclose(popularity.weights(GENRES, 50.0), popularity.weights(GENRES, 650.0))
    assert not np.allclose(popularity.weights(GENRES, 50.0), popularity.weights(GENRES, 350.0))


def test_listeners_choose_genres_in_proportion_to_the_weights() -> None:
    behaviour = Behaviour(drift_amplitude=0.0)
    weights = dict(zip(GENRES, GenrePopularity(3, behaviour).weights(GENRES, 0.0), strict=True))
    starts = Counter(
        e.genre
        for listener in range(300)
        for e in plan_session(3, listener, SHELVES, 3600.0, speed=20.0, behaviour=behaviour)
        if e.operation == "start"
    )
    total = sum(starts.values())
    assert total > 10_000
    for genre, weight in weights.items():
        # within 5 standard deviations of a binomial count
        sd = math.sqrt(total * weight * (1 - weight))
        assert abs(starts[genre] - total * weight) < 5 * sd + 1


# --- listening habits ---------------------------------------------------------------------------
def test_about_a_quarter_of_plays_are_skips_stopped_before_thirty_seconds() -> None:
    plays = [
        play
        for listener in range(200)
        for play in _plays(plan_session(11, listener, SHELVES, 4 * 3600.0)).values()
    ]
    assert len(plays) > 5000
    skips = [p for p in plays if _played_s(p) < QUALIFY_S]
    assert all(p[-1].operation == "stop" for p in skips)
    assert len(skips) / len(plays) == pytest.approx(0.25, abs=0.02)
    ended = [p for p in plays if p[-1].operation == "end"]
    assert len(ended) / len(plays) == pytest.approx(0.75 * 0.9, abs=0.03)
    paused = [p for p in plays if any(e.operation == "pause" for e in p)]
    assert len(paused) / len(plays) == pytest.approx(0.10, abs=0.02)


def test_a_track_that_runs_out_ends_at_its_duration() -> None:
    events = plan_session(5, 0, SHELVES, 3 * 3600.0)
    for play in _plays(events).values():
        if play[-1].operation == "end":
            assert _played_s(play) == pytest.approx(play[0].track.duration_ms / 1000)


def test_compression_shortens_plays_but_keeps_the_thirty_second_rule() -> None:
    assert real_playback_s(20.0, 10.0) == 20.0
    assert real_playback_s(REAL_TIME_S + 100.0, 10.0) == pytest.approx(REAL_TIME_S + 10.0)
    steady = Behaviour(drift_amplitude=0.0)  # fashions follow wall-clock time, not playback
    slow = _plays(plan_session(9, 4, SHELVES, 10 * 3600.0, speed=1.0, behaviour=steady))
    fast = _plays(plan_session(9, 4, SHELVES, 10 * 3600.0, speed=10.0, behaviour=steady))
    common = sorted(set(slow) & set(fast))[:-1]  # the last may be cut by the horizon
    assert len(common) > 50
    for n in common:
        assert slow[n][0].track == fast[n][0].track  # the same choices ...
        assert [e.operation for e in slow[n]] == [e.operation for e in fast[n]]
        skipped = _played_s(slow[n]) < QUALIFY_S  # ... and the same verdict under the rule
        assert (_played_s(fast[n]) < QUALIFY_S) == skipped
        assert _played_s(fast[n]) <= _played_s(slow[n]) + 1e-9


def test_a_play_open_at_the_horizon_is_stopped_there() -> None:
    events = plan_session(1, 0, SHELVES, 100.0)
    assert events[-1].operation in ("stop", "end")
    assert events[-1].at_s <= 100.0
    assert any(e.operation == "stop" and e.at_s == 100.0 for e in events)


def test_no_playable_shelf_means_no_events() -> None:
    assert plan_session(1, 0, [Shelf(genre="empty", tracks=[])], 600.0) == []


# --- determinism and form -----------------------------------------------------------------------
def test_the_same_seed_gives_the_same_session() -> None:
    first = plan_session(42, 3, SHELVES, 1800.0, speed=4.0, joined_at_s=12.0)
    again = plan_session(42, 3, SHELVES, 1800.0, speed=4.0, joined_at_s=12.0)
    assert len(first) > 20
    assert first == again


def test_listeners_and_seeds_differ() -> None:
    base = plan_session(42, 3, SHELVES, 1800.0)
    assert plan_session(42, 4, SHELVES, 1800.0) != base
    assert plan_session(43, 3, SHELVES, 1800.0) != base


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    listener=st.integers(0, 10_000),
    horizon_s=st.floats(0.0, 3600.0),
    speed=st.sampled_from([1.0, 2.5, 10.0, 60.0]),
    minutes=st.floats(0.1, 8.0),
)
def test_every_session_is_well_formed(
    seed: int, listener: int, horizon_s: float, speed: float, minutes: float
) -> None:
    events = plan_session(seed, listener, _shelves(GENRES[:5], 3, minutes), horizon_s, speed=speed)
    _assert_well_formed(events, horizon_s)


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        plan_session(1, 0, SHELVES, 10.0, speed=0.0)
