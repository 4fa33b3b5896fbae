"""kill -9 each part of the running system, one at a time, while listeners play.

The session's broker and store, and a server and a processor as child processes (as
`bluetrack up` runs them), serve simulated listeners. One part after the other is killed
with SIGKILL, left dead for a moment, and started again; after each, the plays must flow
again and a client made before any fault must work again by itself (no new client, no
reconnect call: librdkafka reconnects). At the end, with everyone logged out:

* every chart the processor published equals the reference rules over the events on
  ``songs_tracker_accepted``, batch by batch as its checkpoint says: no accepted play was
  lost or counted twice (a play accepted twice after a server crash is one event id, and
  both the processor and the reference count an event id once);
* every play the listeners saw accepted is on the topic, and the batches have no gaps.

Figures (downtime, time to recover, duplicates on the topic) are printed (``-s``).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from security_support import (
    PASSWORD,
    ChartCollector,
    accepted_plays,
    comparable,
    end_offsets,
    reference_charts,
    unique,
    wait_until,
)
from server_harness import import_test_catalogue, server_settings

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.core.rules import Rules
from bluetrack.errors import BlueTrackError
from bluetrack.protocol.topics import Topic
from bluetrack.simulate.runner import RunConfig, Simulation
from bluetrack.stack import apps, lifecycle

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]

DEAD_S = 3.0  # how long a killed part stays dead
RECOVER_S = 150.0  # bound on a part's restart plus the system flowing again
PROGRESS = 5  # accepted plays that prove the system flows again


@dataclass
class Fault:
    part: str
    down_s: float = 0.0  # kill until started again (includes the restart)
    client_back_s: float = 0.0  # started until the old client's request succeeds
    flowing_s: float = 0.0  # started until PROGRESS more plays were accepted


@dataclass
class System:
    settings: Settings  # the server's and processor's (own home, db, checkpoint)
    session_stack: Any  # the StackControl of the session's broker and store
    charts: ChartCollector
    faults: list[Fault] = field(default_factory=list)

    def kill(self, part: str) -> None:
        if part in ("kafka", "ferretdb"):
            self.session_stack.kill(part)
        else:
            assert lifecycle.kill_part(self.settings, part), f"{part} was not running"

    def start(self, part: str) -> None:
        if part in ("kafka", "ferretdb"):
            self.session_stack.start(part)
        else:
            lifecycle.start_part(self.settings, part)


def _still_running(run: Future[Any]) -> bool:
    """False while the listeners run; an AssertionError saying why once they stopped."""
    if run.done():
        failure = run.exception()
        where = "".join(traceback.format_exception(failure)) if failure else "no exception"
        raise AssertionError(f"the simulation ended during the faults: {where}")
    return False


def accepted_so_far(settings: Settings) -> int:
    """Records on the accepted topic: each a frame of one or more plays, so it grows with them."""
    try:
        return sum(end_offsets(settings, Topic.PLAYS_ACCEPTED).values())
    except Exception:  # the broker is down or just restarting
        return -1


def works(client: BlueTrackClient, session: Session) -> bool:
    try:
        return client.validate(session).ok
    except BlueTrackError:
        return False


@pytest.fixture
def system(
    stack_settings: Settings, stack_control: Any, mongo_db: Any, tmp_path: Path
) -> Iterator[System]:
    import_test_catalogue(mongo_db, per_genre=4)
    settings: Settings = server_settings(
        stack_settings,
        mongo_db.name,
        home=tmp_path / "home",
        checkpoint_dir=tmp_path / "checkpoint",
        request_timeout_s=10.0,
        trigger_s=2.0,
        window_s=60,
        watermark_s=5,
        qualify_rule="spotify",
        mongodb_timeout_s=3.0,
    )
    settings.home.mkdir(parents=True)
    if not apps.is_present("bluetrack.processor"):
        pytest.skip("the processor has no `python -m bluetrack.processor` yet")
    charts = ChartCollector(settings, settings.processor_checkpoint_dir)
    made = System(settings, stack_control, charts)
    try:
        lifecycle.start_part(settings, "server")
        lifecycle.start_part(settings, "processor")
        yield made
    finally:
        for part in ("processor", "server"):
            lifecycle.stop_part(settings, part)
        charts.close()


def test_kill_minus_nine_each_part_while_listeners_play(system: System) -> None:
    settings = system.settings
    began = time.monotonic()
    probe = BlueTrackClient(settings)  # made before any fault, used after each
    name = unique("probe")
    wait_until(lambda: _registered(probe, name), 60, "the server answering")
    session = probe.login(name, PASSWORD)
    wait_until(lambda: system.charts.charts, 300, "the processor's first chart", 1.0)
    started_s = time.monotonic() - began

    simulation = Simulation(
        settings,
        RunConfig(listeners=12, rate=3.0, duration_s=900.0, seed=77, speed=10.0, settle_s=30.0),
    )
    stop = threading.Event()
    at_start = max(accepted_so_far(settings), 0)
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(simulation.run, stop)
        try:
            # The topic also holds earlier tests' plays: count from here.
            wait_until(
                lambda: _still_running(run) or accepted_so_far(settings) >= at_start + 30,
                120,
                "plays flowing",
                1.0,
            )
            for part in ("kafka", "ferretdb", "server", "processor"):
                system.faults.append(_crash_and_recover(system, part, probe, session, run))
        finally:
            stop.set()
        outcome = run.result(timeout=180)
    assert works(probe, session)

    # Let the processor read everything (the logouts too), then compare every chart.
    ends = end_offsets(settings, Topic.PLAYS_ACCEPTED)
    wait_until(lambda: system.charts.caught_up(ends), 240, "the processor reading it all", 1.0)
    plays = accepted_plays(settings)
    ours = [p for p in plays if p.play.user_id in simulation.users]
    ids = [p.play.event_id for p in ours if p.play.operation_type != "logout"]
    duplicates = len(ids) - len(set(ids))
    assert len(set(ids)) >= outcome.accepted, "a play the listeners saw accepted is missing"

    batch_ids = sorted(system.charts.charts)
    assert batch_ids == list(range(len(batch_ids))), "a batch's chart is missing"
    rules = Rules(window_s=settings.window_s, watermark_s=settings.watermark_s)
    expected = reference_charts(plays, system.charts.ends, batch_ids, rules)
    for batch_id in batch_ids:
        assert comparable(system.charts.charts[batch_id]) == comparable(expected[batch_id]), (
            batch_id
        )
    final = system.charts.charts[batch_ids[-1]]
    assert sum(e.count for e in final.all_time.entries) > 0
    probe.close()
    print(
        f"\nstack and processor up in {started_s:.0f} s; listeners: {outcome.joined} joined, "
        f"{outcome.failed} failed to sign in, {outcome.sent} plays sent, {outcome.accepted} "
        f"accepted, {outcome.rejected} refused {outcome.rejected_by_code}; "
        f"{len(set(ids))} distinct accepted play ids on the topic, {duplicates} accepted twice; "
        f"{len(batch_ids)} charts equal to the reference; faults: "
        + "; ".join(
            f"{f.part} down {f.down_s:.1f} s, old client back {f.client_back_s:.1f} s and "
            f"plays flowing {f.flowing_s:.1f} s after restart"
            for f in system.faults
        )
        + f"; whole test {time.monotonic() - began:.0f} s"
    )


def _registered(client: BlueTrackClient, name: str) -> bool:
    try:
        client.register(name, f"{name}@example.com", PASSWORD)
    except BlueTrackError:
        return False
    return True


def _crash_and_recover(
    system: System, part: str, probe: BlueTrackClient, session: Session, run: Future[Any]
) -> Fault:
    fault = Fault(part)
    killed = time.monotonic()
    system.kill(part)
    time.sleep(DEAD_S)
    system.start(part)
    started = time.monotonic()
    fault.down_s = started - killed
    wait_until(lambda: works(probe, session), RECOVER_S, f"the old client after {part}", 1.0)
    fault.client_back_s = time.monotonic() - started
    before: int = wait_until(
        lambda: max(accepted_so_far(system.settings), 0), RECOVER_S, "the broker", 1.0
    )

    def flowing() -> bool:
        _still_running(run)  # plays cannot flow again if the listeners died
        return accepted_so_far(system.settings) >= before + PROGRESS

    wait_until(flowing, RECOVER_S, f"plays accepted again after {part}", 1.0)
    fault.flowing_s = time.monotonic() - started
    if part == "processor":
        last = max(system.charts.charts)
        wait_until(
            lambda: max(system.charts.charts) > last, RECOVER_S, "charts after the restart", 1.0
        )
    return fault
