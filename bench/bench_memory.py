"""Resident memory of every component while the system works under a simulated load.

A private Kafka + FerretDB on free ports (``stack.testing.running_stack``), the catalogue
imported as ``bluetrack up`` does (the Spotify CSV bench_import uses, if present), then,
each in its own process: the server and the processor (``stack.lifecycle``, as
``bluetrack up`` starts them), and the desktop client (PySide6, ``QT_QPA_PLATFORM=offscreen``)
logged in as the demo account through its "remember me" file, as ``bluetrack demo`` does,
so it shows the shelves and the live chart (it watches; it does not play).
``bluetrack simulate`` then runs BENCH_MEMORY_LISTENERS listeners (300) joining at
BENCH_MEMORY_JOIN_RATE per second (10), speed x10, for BENCH_MEMORY_SECONDS (120). The
processor runs only at this load, tens of plays per second: bench_processor measures its
memory at 100k events/s. The simulator is the load, not a component: it is not measured.

Once a second, for each component: VmRSS from /proc/<pid>/status, and the accepted plays
so far (the end offsets of ``songs_tracker_accepted``). Reported per component, in MiB:
``rss_peak`` (the largest sample), ``rss_steady`` (the median of the last half of the run,
meant to be after the ramp-up) and ``vm_hwm`` (the kernel's high-water mark at the end,
which also catches a peak between samples, start-up included). The processor is two
processes: its Python driver and the Spark driver JVM it starts. Beside them, the load:
accepted plays per second over the same last half.

bcrypt runs at cost 4 here, not 12: at cost 12 (~0.25 CPU-s a login, bench_server) signing
in 300 listeners would keep the server's CPUs busy for minutes of the run; the cost changes
how long a login takes, not what the processes hold. The simulator signs listeners in on 8
threads, so on a busy machine they join slower than the rate asked for:
``load.simulator_at_steady_start`` says how many had joined when the steady half began.
When the sampling ends the simulator is stopped (its listeners stop and log out).

A component that dies during the run fails the benchmark; no figure is made up for it.

    .venv/bin/python -m bench memory
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from bluetrack.bus.kafka import make_consumer
from bluetrack.config import PROJECT_ROOT, Settings, get_settings
from bluetrack.protocol.topics import Topic
from bluetrack.stack import lifecycle, processes
from bluetrack.stack.apps import child_env

LISTENERS = int(os.environ.get("BENCH_MEMORY_LISTENERS", "300"))
JOIN_RATE = float(os.environ.get("BENCH_MEMORY_JOIN_RATE", "10"))
SECONDS = float(os.environ.get("BENCH_MEMORY_SECONDS", "120"))
SPEED = 10.0
SEED = 7
BCRYPT_COST = 4
SAMPLE_S = 1.0
MIB = 1024 * 1024
READY_TIMEOUT_S = 180.0
SPARK_DRIVER_CLASS = "org.apache.spark.deploy.SparkSubmit"
# The simulator's progress line (simulate.progress.summary_line), read back from its log.
PROGRESS = re.compile(
    r"(?P<seconds>\d+)s\s+listeners (?P<joined>\d+)/\d+ joined, (?P<done>\d+) done"
    r"(?:, (?P<failed>\d+) failed)?.*?sent (?P<sent>\d+) .*?accepted (?P<accepted>\d+) "
    r".*?rejected (?P<rejected>\d+)"
)
REAL_CSV = PROJECT_ROOT.parent / "shared" / "data" / "spotify" / "spotify_tracks.csv"


class ComponentDied(RuntimeError):
    """A measured process ended during the run: its figures would be meaningless."""


# --- reading /proc ---------------------------------------------------------------------------
def memory_bytes(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a live process; ComponentDied if it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        raise ComponentDied(f"pid {pid} is gone") from None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    if fields.get("State", "").strip().startswith("Z") or "VmRSS" not in fields:
        raise ComponentDied(f"pid {pid} has exited (zombie)")
    return _kib(fields["VmRSS"]) * 1024, _kib(fields["VmHWM"]) * 1024


def _kib(value: str) -> int:
    return int(value.split()[0])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc's parent links."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, p in parents.items() if p == parent]
        found += children
        frontier += children
    return found


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


# --- the components ----------------------------------------------------------------------------
@dataclass(slots=True)
class Component:
    name: str
    pid: int
    log: Path  # where to look if it dies
    rss: list[int] = field(default_factory=list)
    hwm: int = 0

    def sample(self) -> None:
        rss, self.hwm = self.memory()
        self.rss.append(rss)

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) now; ComponentDied, with the tail of its log, if it has ended."""
        try:
            return memory_bytes(self.pid)
        except ComponentDied as exc:
            raise ComponentDied(
                f"{self.name} died during the run ({exc}); {self.log}:\n{last_lines(self.log)}"
            ) from None

    def figures(self) -> dict[str, Any]:
        steady = self.rss[len(self.rss) // 2 :]
        return {
            "rss_peak_mib": round(max(self.rss) / MIB),
            "rss_steady_mib": round(statistics.median(steady) / MIB),
            "vm_hwm_mib": round(self.hwm / MIB),
        }


def last_lines(log: Path, count: int = 5) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-count:])
    except OSError:
        return "(no log)"


def part_component(settings: Settings, part: str, name: str) -> Component:
    pid = processes.running_pid(settings.home, part)
    if pid is None:
        raise ComponentDied(
            f"{part} is not running: {processes.last_log_line(settings.home, part)}"
        )
    return Component(name, pid, processes.log_file(settings.home, part))


def spark_jvm(settings: Settings, driver: Component) -> Component:
    """The JVM the processor's Python driver starts (py4j gateway), once it is there.

    Not any ``java`` below the driver: spark-submit first runs a short-lived one
    (``launcher.Main``) that only builds the command line of the real one."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        driver.sample()  # fails at once if the driver died while starting Spark
        java = [pid for pid in descendants(driver.pid) if SPARK_DRIVER_CLASS in command_line(pid)]
        if java:
            return Component("processor_spark_jvm", java[0], driver.log)
        time.sleep(1.0)
    raise ComponentDied(f"the processor started no JVM within {READY_TIMEOUT_S:.0f}s")


# --- the client ----------------------------------------------------------------------------------
def client_child(notes_path: str) -> int:
    """Child process: the client as ``run_client`` builds it, noting logins and charts shown."""
    from bluetrack.client.app import Client
    from bluetrack.client.gateway import BusGateway
    from bluetrack.client.i18n import choose_language

    settings = get_settings()
    client = Client(
        BusGateway(settings),
        settings.config_dir,
        language=choose_language(settings.language),
        request_timeout_s=settings.request_timeout_s,
    )
    with Path(notes_path).open("a") as notes:

        def note(what: str) -> None:
            notes.write(f"{what}\n")
            notes.flush()

        client.controller.logged_in.connect(lambda _session: note("logged_in"))
        client.controller.logged_out.connect(lambda: note("logged_out"))
        client.controller.chart_received.connect(lambda chart: note(f"chart {chart.batch_id}"))
        client.app.aboutToQuit.connect(client.controller.shutdown)
        client.start()
        return client.app.exec()


def remember_demo_session(settings: Settings) -> None:
    """What ``bluetrack demo`` does before it opens the client, retried while the server
    is still finding its partitions (the first requests can time out)."""
    from bluetrack.client.session_store import SessionStore
    from bluetrack.demo import sign_in_desktop_client

    deadline, message = time.monotonic() + READY_TIMEOUT_S, ""
    while SessionStore(settings.config_dir).load() is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo account could not log in: {message}")
        message = sign_in_desktop_client(settings)


@contextmanager
def child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def client_state(notes: Path) -> tuple[str, int]:
    """The figure's name for what the client showed, and how many charts it drew."""
    lines = notes.read_text().splitlines() if notes.exists() else []
    charts = sum(line.startswith("chart ") for line in lines)
    if "logged_in" not in lines:
        return "client_login_view", charts
    if "logged_out" in lines:
        return "client_logged_in_then_out", charts
    return ("client_logged_in_live_chart" if charts else "client_logged_in_no_chart"), charts


# --- the load ----------------------------------------------------------------------------------
def accepted_so_far(consumer: Any, partitions: list[TopicPartition]) -> int:
    """Plays the server has accepted: the sum of the accepted topic's end offsets."""
    return sum(consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions)


def simulation_argv() -> list[str]:
    return [
        sys.executable,
        "-m",
        "bluetrack.simulate",
        "--plain",
        *("--listeners", str(LISTENERS), "--rate", str(JOIN_RATE)),
        *("--duration", str(SECONDS), "--seed", str(SEED), "--speed", str(SPEED)),
    ]


def simulator_progress(log: Path) -> dict[str, int]:
    """The simulator's latest progress line (``progress.summary_line``), as numbers."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    found = [m for line in lines if (m := PROGRESS.search(line))]
    if not found:
        raise RuntimeError(f"no progress line from the simulator:\n{last_lines(log)}")
    return {key: int(value or 0) for key, value in found[-1].groupdict().items()}


def wait_until_simulating(simulation: subprocess.Popen[bytes], log: Path) -> None:
    """Until the simulator's first progress line: its imports and checks are not load, and
    the sampling window should match the run's own clock."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while simulation.poll() is None and time.monotonic() < deadline:
        if log.exists() and PROGRESS.search(log.read_text(errors="replace")):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the simulator did not start:\n{last_lines(log)}")


def sample_run(
    settings: Settings, components: list[Component], simulation: subprocess.Popen[bytes], log: Path
) -> tuple[list[tuple[float, int]], dict[str, int]]:
    """Sample every component once a second for SECONDS: (time, accepted so far) each time,
    and the simulator's progress when the steady half began (had everyone joined?)."""
    consumer = make_consumer(settings, "bench-memory-offsets")
    topic = consumer.list_topics(Topic.PLAYS_ACCEPTED, timeout=30).topics[Topic.PLAYS_ACCEPTED]
    partitions = [TopicPartition(Topic.PLAYS_ACCEPTED, p) for p in topic.partitions]
    accepted: list[tuple[float, int]] = []
    at_half: dict[str, int] = {}
    began = time.monotonic()
    try:
        while (now := time.monotonic()) - began < SECONDS:
            if simulation.poll() is not None:
                raise ComponentDied(f"the simulator exited early (code {simulation.returncode})")
            for component in components:
                component.sample()
            accepted.append((now, accepted_so_far(consumer, partitions)))
            if not at_half and now - began >= SECONDS / 2:
                at_half = simulator_progress(log)
            time.sleep(max(0.0, began + len(accepted) * SAMPLE_S - time.monotonic()))
    finally:
        consumer.close()
    return accepted, at_half


def load_figures(
    accepted: list[tuple[float, int]], at_half: dict[str, int], final: dict[str, int]
) -> dict[str, Any]:
    steady = accepted[len(accepted) // 2 :]
    (t0, n0), (t1, n1) = steady[0], steady[-1]
    return {
        "listeners": LISTENERS,
        "join_rate_per_s": JOIN_RATE,
        "speed": SPEED,
        "seconds_sampled": round(accepted[-1][0] - accepted[0][0]),
        "samples": len(accepted),
        "accepted_plays": accepted[-1][1],
        "accepted_per_s_steady": round((n1 - n0) / max(t1 - t0, 1e-3), 1),
        "simulator_at_steady_start": at_half,
        "simulator_final": final,
    }


# --- all of it -----------------------------------------------------------------------------------
def import_catalogue(settings: Settings) -> str:
    """What ``bluetrack up`` imports into an empty store; the catalogue's size is in the
    server's memory (its catalogue cache) and in FerretDB's."""
    from bluetrack.catalogue import ensure_catalogue

    report = ensure_catalogue(settings)
    if report is None:
        raise RuntimeError("the private store already had songs")
    source = Path(report.source)
    if source.is_absolute():  # as BENCHMARKS.md names it, relative to the repository
        return f"{os.path.relpath(source, PROJECT_ROOT)}: {report.tracks} tracks"
    return f"{report.source}: {report.tracks} tracks"


def start_programs(settings: Settings) -> list[Component]:
    """Kafka and FerretDB are up; start the server and the processor."""
    lifecycle.start_part(settings, lifecycle.SERVER.name)
    lifecycle.start_part(settings, lifecycle.PROCESSOR.name)
    driver = part_component(settings, lifecycle.PROCESSOR.name, "processor_python_driver")
    return [
        part_component(settings, lifecycle.KAFKA.name, "kafka_broker_jvm"),
        part_component(settings, lifecycle.FERRETDB.name, "ferretdb"),
        part_component(settings, lifecycle.SERVER.name, "server"),
        driver,
        spark_jvm(settings, driver),
    ]


def stop_programs(settings: Settings) -> None:
    for part in (lifecycle.PROCESSOR, lifecycle.SERVER):
        lifecycle.stop_part(settings, part.name)


def run() -> dict[str, Any]:
    from bluetrack.stack.testing import running_stack

    load_before = round(os.getloadavg()[0], 2)
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-memory-")))
        base = get_settings().model_copy(
            update={"bcrypt_cost": BCRYPT_COST, "config_dir": home / "client-config"}
        )
        if REAL_CSV.is_file():  # the catalogue bench_import measures, when it is there
            base = base.model_copy(update={"catalogue_csv": REAL_CSV})
        settings = stack.enter_context(running_stack(home, base))
        stack.callback(stop_programs, settings)
        catalogue = import_catalogue(settings)
        components = start_programs(settings)
        remember_demo_session(settings)
        env = child_env(settings)
        notes = home / "client-notes.txt"
        client_argv = [sys.executable, "-m", "bench.bench_memory", "client", str(notes)]
        client = stack.enter_context(
            child(client_argv, {**env, "QT_QPA_PLATFORM": "offscreen"}, home / "client.log")
        )
        sim_log = home / "simulation.log"
        simulation = stack.enter_context(child(simulation_argv(), env, sim_log))
        client_component = Component("client", client.pid, home / "client.log")
        components.append(client_component)
        wait_until_simulating(simulation, sim_log)
        accepted, at_half = sample_run(settings, components, simulation, sim_log)
        simulation.terminate()  # a clean stop: plays stopped, listeners logged out
        if simulation.wait(120) != 0:
            raise RuntimeError(f"the simulator failed:\n{last_lines(sim_log)}")
        final = simulator_progress(sim_log)
        for component in components:
            component.memory()  # all still alive after the load, or the run fails here
        client_component.name, charts = client_state(notes)
    return {
        "bench": "memory",
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "load": load_figures(accepted, at_half, final),
        "catalogue": catalogue,
        "client_charts_shown": charts,
        **{c.name: c.figures() for c in components},
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"]:
        sys.exit(client_child(sys.argv[2]))
    print(json.dumps(run(), indent=2))
