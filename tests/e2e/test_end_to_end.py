"""The whole system: simulated listeners -> server -> Spark processor -> charts.

Twenty listeners with a fixed seed play (compressed plays, speed x10) through the real server
(in this process) into the real processor (a child process, as `bluetrack up` runs it) for at
least 40 s and until the processor has charted a few batches of their plays; then they stop
their plays and log out. Every chart the processor published must equal what the reference
rules (``core.charts.ReferenceCharts``) give for the events the server accepted, batched
exactly as the processor batched them.

What is deterministic, and so asserted exactly: given the records on
``songs_tracker_accepted`` and the batch boundaries, each chart. The boundaries are Spark's
choice (trigger timing); they are read back from its checkpoint's offset log (one file per
batch, the Kafka end offsets of that batch). Which events the listeners send, and when, vary
with timing, so of the run itself only invariants are asserted (all accepted, none refused).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from security_support import (
    ChartCollector,
    accepted_plays,
    comparable,
    end_offsets,
    reference_charts,
)

from bluetrack.config import Settings
from bluetrack.core.charts import PlayRecord, replay_user
from bluetrack.core.rules import Rules
from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.protocol.topics import Topic
from bluetrack.server.context import TrackFacts
from bluetrack.server.runner import Server, stores_for
from bluetrack.simulate.progress import Snapshot
from bluetrack.simulate.runner import RunConfig, Simulation
from bluetrack.stack import apps, processes

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.spark,
    pytest.mark.slow,
]

SEED = 2024
LISTENERS = 20
MIN_RUN_S = 40.0  # long enough for plays to pass the 30-second rule
MAX_RUN_S = 240.0  # the run is stopped well before, see run_while_charts_stream
STREAMED_BATCHES = 3
SPEED = 10.0
# The processor's start (JVM, Spark session, Kafka source) overlaps the run: it reads from
# the earliest offset, so it misses nothing. This bounds the start plus the catching up.
CATCH_UP_S = 240.0


# --- a catalogue with more genres than a Top 5 ---------------------------------------------
class Catalogue:
    """Twelve genres of ten tracks, 1-4 minutes long: enough for the Top-5 cut to matter."""

    GENRES = tuple(f"genre-{name}" for name in "abcdefghijkl")

    def __init__(self) -> None:
        self.shelves = {
            genre: [
                TrackSummary(
                    track_id=f"{genre}-{i:02d}",
                    name=f"Track {i}",
                    artists=["Band"],
                    album="Album",
                    duration_ms=60_000 + 20_000 * i + 137 * g,
                    genres=[genre],
                )
                for i in range(10)
            ]
            for g, genre in enumerate(self.GENRES)
        }

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> list[Shelf]:
        genres = rng.sample(self.GENRES, min(n_genres, len(self.GENRES)))
        return [
            Shelf(genre=g, tracks=rng.sample(self.shelves[g], min(per_genre, 10))) for g in genres
        ]

    def track_index(self) -> dict[str, TrackFacts]:
        return {
            t.track_id: TrackFacts(t.duration_ms, frozenset(t.genres))
            for tracks in self.shelves.values()
            for t in tracks
        }


# --- reading topics and the processor's checkpoint -------------------------------------------
def topics_ready(settings: Settings) -> bool:
    """Every partition of every topic has a leader (not yet so right after creation)."""
    try:
        for topic in Topic:
            end_offsets(settings, topic)
    except KafkaException:
        return False
    return True


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.5)


# --- the system under test ------------------------------------------------------------------
@pytest.fixture
def e2e_settings(stack_settings: Settings, mongo_db: Any, tmp_path: Path) -> Settings:
    wait_for(lambda: topics_ready(stack_settings), 60, "leaders for every topic")
    return stack_settings.model_copy(
        update={
            "home": tmp_path / "home",
            "mongodb_db": mongo_db.name,
            "bcrypt_cost": 4,
            "request_timeout_s": 20.0,
            "checkpoint_dir": tmp_path / "checkpoint",
            "trigger_s": 2.0,
            "window_s": 10,  # shorter than the run, so trending and all time differ
            "watermark_s": 5,
            "qualify_rule": "spotify",
        }
    )


@pytest.fixture
def charts(e2e_settings: Settings) -> Iterator[ChartCollector]:
    # Made before the processor publishes anything; it notes each batch's end offsets as
    # its chart arrives (Spark keeps only the last offset files).
    collector = ChartCollector(e2e_settings, e2e_settings.processor_checkpoint_dir)
    yield collector
    collector.close()


@pytest.fixture
def processor(e2e_settings: Settings, charts: ChartCollector) -> Iterator[None]:
    home = e2e_settings.home
    home.mkdir(parents=True, exist_ok=True)
    apps.start(e2e_settings, "processor", "bluetrack.processor")
    try:
        yield
    finally:
        processes.stop(home, "processor", 30.0)


@pytest.fixture
def server(e2e_settings: Settings, mongo_db: Any) -> Iterator[Server]:
    running = Server(e2e_settings, stores=lambda _: stores_for(mongo_db, Catalogue()))
    running.start()
    try:
        assert running.wait_ready(60), "the server's consumers got no partitions"
        yield running
    finally:
        running.stop()


def run_while_charts_stream(simulation: Simulation, charts: ChartCollector) -> Snapshot:
    """Run the listeners until the processor has charted a few batches of their plays.

    The processor starts alongside (a JVM and Spark take a minute or more); stopping the run
    only after some batches read plays as they came means charts of a live stream, with
    plays under way, are compared too, not just one batch of a backlog.
    """
    stop = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(simulation.run, stop)
        began = time.monotonic()

        def enough() -> bool:
            streamed = sum(chart.input_rows > 0 for chart in list(charts.charts.values()))
            return run.done() or (
                time.monotonic() - began >= MIN_RUN_S and streamed >= STREAMED_BATCHES
            )

        try:
            wait_for(enough, CATCH_UP_S, f"{STREAMED_BATCHES} charts of plays from the processor")
        finally:
            stop.set()
        return run.result(timeout=120)


def test_published_charts_equal_the_reference_over_the_accepted_events(
    e2e_settings: Settings, charts: ChartCollector, processor: None, server: Server
) -> None:
    simulation = Simulation(
        e2e_settings,
        RunConfig(listeners=LISTENERS, rate=10.0, duration_s=MAX_RUN_S, seed=SEED, speed=SPEED),
    )
    outcome = run_while_charts_stream(simulation, charts)

    # The run: everyone in, every event verified and accepted, everyone out.
    assert outcome.joined == outcome.finished == LISTENERS
    assert outcome.sent > 2 * LISTENERS
    assert outcome.rejected == 0, outcome.rejected_by_code
    assert outcome.accepted == outcome.sent

    # Let the processor read to the end of songs_tracker_accepted (logouts included).
    ends = end_offsets(e2e_settings, Topic.PLAYS_ACCEPTED)
    wait_for(lambda: charts.caught_up(ends), CATCH_UP_S, "the processor reading every play")
    records = accepted_plays(e2e_settings)
    ours = [r for r in records if r.play.user_id in simulation.users]
    assert sum(r.play.operation_type != "logout" for r in ours) == outcome.accepted
    assert {r.play.user_id for r in ours if r.play.operation_type == "logout"} == simulation.users

    # Every chart, batch by batch, equals the reference over the same records.
    batch_ids = sorted(charts.charts)
    assert batch_ids == list(range(len(batch_ids))), "a batch's chart is missing"
    rules = Rules(
        window_s=e2e_settings.window_s,
        watermark_s=e2e_settings.watermark_s,
        qualify_rule=e2e_settings.qualify_rule,
    )
    expected = reference_charts(records, charts.ends, batch_ids, rules)
    for batch_id in batch_ids:
        assert comparable(charts.charts[batch_id]) == comparable(expected[batch_id]), batch_id

    # And the charts say something: plays qualified, and everyone of this run has left. The
    # chart counts every user on the broker, and tests run before this one on the same
    # broker may have left plays running, so our listeners are checked one by one.
    final = charts.charts[batch_ids[-1]]
    assert sum(e.count for e in final.all_time.entries) >= LISTENERS // 2
    chart_ms = int(final.chart_time.timestamp() * 1000)
    for user_id in simulation.users:
        events = [PlayRecord.from_accepted(r.play) for r in ours if r.play.user_id == user_id]
        assert replay_user(events, rules, chart_ms).listening is None, user_id
