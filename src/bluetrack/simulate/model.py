"""How a simulated listener behaves: pure and seeded, with no I/O and no clock of its own.

A listener's whole session is planned up front from the shelves the server sent it, its own
random generator (derived from the run's seed and its number) and the run's shared taste, a
Zipf-like genre popularity that drifts over time. So the same seed and the same catalogue
reply give the same events, and the runner only has to send them on time.

Time compression (``speed`` > 1) keeps event times real, so the server accepts them, and
shortens the plays instead: the first ``REAL_TIME_S`` seconds of every play stay real, so
whether a play passes the 30-second rule is decided as at speed 1, and everything after
them, pauses and the gaps between plays run ``speed`` times faster.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.protocol.plays import ClientOperation

QUALIFY_S = 30.0  # a play stopped before this is a skip (the 30-second rule)
REAL_TIME_S = 32.0  # > QUALIFY_S, so send jitter never moves a play across the rule


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The knobs of listening habits; the defaults aim at what streaming services report."""

    skip_share: float = 0.25  # plays stopped before QUALIFY_S
    skip_s: tuple[float, float] = (3.0, 28.0)
    early_stop_share: float = 0.10  # of the rest: stopped after QUALIFY_S, before the end
    pause_share: float = 0.10  # plays paused (once) and resumed
    pause_s: tuple[float, float] = (5.0, 60.0)
    gap_s: tuple[float, float] = (1.0, 8.0)  # choosing the next track
    zipf_exponent: float = 1.1
    drift_period_s: float = 600.0  # one full turn of the genre fashions
    drift_amplitude: float = 1.0  # in log-weight: 1.0 lets neighbours in the ranking swap


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    at_s: float  # seconds after the listener began listening, in real (wall-clock) time
    operation: ClientOperation
    genre: str
    track: TrackSummary
    play: int  # the listener's play number; the play's start fixes its start_time


def _unit_hash(seed: int, label: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, label), the same in every process."""
    digest = hashlib.blake2b(f"{seed}|{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class GenrePopularity:
    """The run's shared taste, so the listeners' choices add up to a chart.

    Genres are ranked by a seeded order; a genre of rank ``k`` among those on offer weighs
    ``k ** -s`` (Zipf), times ``exp(A sin(2 pi t / P + phase))`` so fashions come and go.
    Each genre's order key and phase come from a hash of its name, so every listener agrees
    on them whichever genres its shelves happen to hold.
    """

    def __init__(self, seed: int, behaviour: Behaviour) -> None:
        self._seed = seed
        self._exponent = behaviour.zipf_exponent
        self._period_s = behaviour.drift_period_s
        self._amplitude = behaviour.drift_amplitude

    def _order_key(self, genre: str) -> tuple[float, str]:
        return (_unit_hash(self._seed, "rank:" + genre), genre)

    def _phase(self, genre: str) -> float:
        return 2.0 * math.pi * _unit_hash(self._seed, "phase:" + genre)

    def ranks(self, genres: Sequence[str]) -> np.ndarray:
        """1 for the most popular of ``genres`` before drift, then 2, 3, ..."""
        order = sorted(range(len(genres)), key=lambda i: self._order_key(genres[i]))
        ranks = np.empty(len(genres))
        ranks[order] = np.arange(1, len(genres) + 1)
        return ranks

    def weights(self, genres: Sequence[str], at_s: float) -> np.ndarray:
        """The probability of choosing each of ``genres`` at ``at_s`` seconds into the run."""
        log_w = -self._exponent * np.log(self.ranks(genres))
        if self._amplitude:
            phases = np.array([self._phase(g) for g in genres])
            log_w += self._amplitude * np.sin(2.0 * math.pi * at_s / self._period_s + phases)
        w: np.ndarray = np.exp(log_w - log_w.max())
        w /= w.sum()
        return w


def listener_rng(seed: int, listener: int) -> np.random.Generator:
    """All of one listener's randomness: independent of the others, fixed by the seed."""
    return np.random.default_rng([seed, listener])


def real_playback_s(played_s: float, speed: float) -> float:
    """Wall-clock seconds that ``played_s`` seconds of playback take at ``speed``."""
    if played_s <= REAL_TIME_S:
        return played_s
    return REAL_TIME_S + (played_s - REAL_TIME_S) / speed


@dataclass(frozen=True, slots=True)
class _Play:
    """One play's decisions, in playback seconds (independent of speed)."""

    genre: str
    track: TrackSummary
    played_s: float
    finished: bool  # ran to the end of the track
    pause_at_s: float | None
    pause_s: float


def _choose_play(
    rng: np.random.Generator,
    shelves: Sequence[Shelf],
    popularity: GenrePopularity,
    behaviour: Behaviour,
    at_s: float,
) -> _Play:
    weights = popularity.weights([s.genre for s in shelves], at_s)
    shelf = shelves[int(rng.choice(len(shelves), p=weights))]
    track = shelf.tracks[int(rng.integers(len(shelf.tracks)))]
    length_s = track.duration_ms / 1000.0
    outcome = rng.random()
    if outcome < behaviour.skip_share:
        played_s = rng.uniform(*behaviour.skip_s)
    elif outcome < behaviour.skip_share + (1 - behaviour.skip_share) * behaviour.early_stop_share:
        played_s = rng.uniform(REAL_TIME_S, max(REAL_TIME_S, length_s))
    else:
        played_s = length_s
    played_s = min(played_s, length_s)
    paused = rng.random() < behaviour.pause_share
    pause_at_s = rng.uniform(0.0, played_s) if paused else None
    pause_s = rng.uniform(*behaviour.pause_s) if paused else 0.0
    return _Play(shelf.genre, track, played_s, played_s >= length_s, pause_at_s, pause_s)


def _play_events(play: _Play, number: int, start_s: float, speed: float) -> list[PlannedEvent]:
    def event(at_s: float, operation: ClientOperation) -> PlannedEvent:
        return PlannedEvent(at_s, operation, play.genre, play.track, number)

    events = [event(start_s, "start")]
    resumed_s, resumed_real_s = start_s, 0.0  # when playback last (re)started, and where
    if play.pause_at_s is not None:
        paused_real_s = real_playback_s(play.pause_at_s, speed)
        events.append(event(start_s + paused_real_s, "pause"))
        resumed_s = events[-1].at_s + play.pause_s / speed
        resumed_real_s = paused_real_s
        events.append(event(resumed_s, "resume"))
    done_s = resumed_s + real_playback_s(play.played_s, speed) - resumed_real_s
    events.append(event(done_s, "end" if play.finished else "stop"))
    return events


def _cut_at(events: list[PlannedEvent], horizon_s: float) -> list[PlannedEvent]:
    """A play still open at the horizon is stopped there (the listener logs out)."""
    kept = [e for e in events if e.at_s <= horizon_s]
    if kept and kept[-1].operation not in ("stop", "end"):
        last = kept[-1]
        kept.append(PlannedEvent(horizon_s, "stop", last.genre, last.track, last.play))
    return kept


def plan_session(
    seed: int,
    listener: int,
    shelves: Sequence[Shelf],
    horizon_s: float,
    *,
    speed: float = 1.0,
    joined_at_s: float = 0.0,
    behaviour: Behaviour | None = None,
) -> list[PlannedEvent]:
    """Every play event of listener ``listener`` until ``horizon_s``, in time order."""
    return list(
        session_events(
            seed,
            listener,
            shelves,
            horizon_s,
            speed=speed,
            joined_at_s=joined_at_s,
            behaviour=behaviour,
        )
    )


def session_events(
    seed: int,
    listener: int,
    shelves: Sequence[Shelf],
    horizon_s: float,
    *,
    speed: float = 1.0,
    joined_at_s: float = 0.0,
    behaviour: Behaviour | None = None,
) -> Iterator[PlannedEvent]:
    """``plan_session`` one play at a time, so a long run of many listeners keeps only each
    listener's next play in memory.

    ``joined_at_s`` is when the listener joined the run: the genre fashions follow run time.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    behaviour = behaviour or Behaviour()
    playable = [s for s in shelves if s.tracks]
    if not playable:
        return
    rng = listener_rng(seed, listener)
    popularity = GenrePopularity(seed, behaviour)
    now_s, number = 0.0, 0
    while True:
        now_s += rng.uniform(*behaviour.gap_s) / speed
        if now_s >= horizon_s:
            return
        play = _choose_play(rng, playable, popularity, behaviour, joined_at_s + now_s)
        events = _play_events(play, number, now_s, speed)
        if events[-1].at_s > horizon_s:
            yield from _cut_at(events, horizon_s)
            return
        yield from events
        now_s, number = events[-1].at_s, number + 1
