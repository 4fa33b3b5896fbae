"""Server figures: play accept rate per process, songs_update latency, login rate.

Runs against a private Kafka + FerretDB on free ports (``stack.testing.running_stack``), so
nothing a developer has running is disturbed, with ONE server process started as a child
(``python -m bench.bench_server serve``: the real ``Server`` wiring plus a timing wrapper
around the songs handler), so the load generators here never share its GIL.

* **plays**: ``BENCH_PLAYS`` signed events from ``BENCH_LISTENERS`` live sessions are put on
  ``songs_tracker`` before the server starts; it then drains that backlog. The rate is
  accepted plays per second, from the broker timestamps of the first and last frame of
  ``AcceptedPlay`` lines it produced (each after verification, delivery and the commit of
  the batch before), counting the plays inside the frames. The verifier alone, without
  Kafka, is measured in this process too.
* **songs_update**: 1, 10 and 50 concurrent clients, each sending requests back to back
  (no pause: a saturation test, where latency is clients / throughput of the whole
  machine), then 50 clients each pausing a random think time (mean ``SONGS_THINK_S``, 1 s)
  before each request, as people using the app do: the target's figure. Latency runs
  from handing the (sealed) request to the producer until its reply arrives (Kafka there,
  the server, Kafka back); ``handler`` is the time inside the server's handler. The clients
  share one producer and one reply consumer (50 librdkafka clients in one Python process
  would measure the benchmark, not the server), each with its own client id and session.
* **login**: logins per second at the configured bcrypt cost, ``server_workers`` in flight.
* **kafka_echo_round_trip**: the same request/reply through a bare echo (no server logic):
  the floor any songs_update latency on this machine stands on.
* ``server_cpu_*``: the server process's CPU time per unit of work, from /proc. Other load on
  the machine stretches latencies and rates, hardly these; ``events_per_server_cpu_s`` is
  the accept rate of a process that has a core to itself (the broker, the store and this
  benchmark share the machine's cores with it here).

Sessions for plays and songs are written straight to the store (logging 1000 users in at
cost 12 would take minutes); logins are measured on their own.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.assign import assign_at_end
from bluetrack.bus.kafka import make_consumer, make_producer
from bluetrack.config import PROJECT_ROOT, Settings, get_settings
from bluetrack.core.validation import TimeRules
from bluetrack.protocol import codec, sealing
from bluetrack.protocol.envelope import new_id, utc_now
from bluetrack.protocol.frames import play_count
from bluetrack.protocol.messages import SongsReply, SongsRequest, TrackSummary
from bluetrack.protocol.plays import PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.catalogue_cache import CatalogueCache
from bluetrack.server.context import ServerContext
from bluetrack.server.handlers import REGISTRY
from bluetrack.server.plays import PlayVerifier
from bluetrack.server.session_cache import SessionCache
from bluetrack.server.testing import as_messages, auth_proof
from bluetrack.stack import ferretdb, kafka, processes
from bluetrack.store.server_keys import ServerKeys, load_or_create
from bluetrack.store.sessions import InMemorySessions, SessionRecord, SessionRepository

PLAYS = int(os.environ.get("BENCH_PLAYS", "200000"))
LISTENERS = int(os.environ.get("BENCH_LISTENERS", "1000"))
SONGS_CONCURRENCY = (1, 10, 50)
SONGS_PER_CLIENT = int(os.environ.get("BENCH_SONGS_PER_CLIENT", "40"))
# 50 people using the app: each asks for new shelves after a think time of 1 s on average
# (a person browsing clicks far less often; 1 s is the harsh end).
SONGS_THINK_S = float(os.environ.get("BENCH_SONGS_THINK_S", "1.0"))
SONGS_PACED_PER_CLIENT = int(os.environ.get("BENCH_SONGS_PACED_PER_CLIENT", "20"))
LOGINS = int(os.environ.get("BENCH_LOGINS", "32"))
# The targets; the bench runner writes each figure beside its target.
TARGETS = {
    "plays.events_per_s": (">=", 50_000),
    "plays.events_per_server_cpu_s": (">=", 50_000),
    "songs_update_50_clients_p95_ms": ("<=", 20),
}
PASSWORD = "benchmark password"
CHECK_EVERY = 20  # songs replies fully decoded and validated: one in this many
DB_NAME = "bench_server"


def import_catalogue(db: Any, settings: Settings) -> str:
    """The real importer: the Spotify CSV if present, else the generated catalogue."""
    from bluetrack.catalogue.importer import default_source, import_catalogue
    from bluetrack.catalogue.sources import GeneratedSource

    source = default_source(settings)
    if os.environ.get("BENCH_CATALOGUE") == "generated":
        source = GeneratedSource(settings.catalogue_seed, settings.catalogue_generated_per_genre)
    import_catalogue(db, source)
    return source.label


def playable_tracks(cache: CatalogueCache) -> list[TrackSummary]:
    """Every playable track once, with its genres (from shelves asking for everything)."""
    shelves = cache.random_shelves(10_000, 1_000_000, random.Random(0))
    return list({t.track_id: t for shelf in shelves for t in shelf.tracks}.values())


# --- the server child -----------------------------------------------------------------------------
def serve(timings_path: str) -> int:
    """Child process: a Server wired as `python -m bluetrack.server`; handler timings to a file."""
    from bluetrack.server.runner import Server

    settings = get_settings()
    timings: list[tuple[float, float]] = []  # (wall clock at start, seconds)
    songs_handler = REGISTRY[Topic.SONGS_UPDATE]

    def timed(ctx: ServerContext, request: Any) -> Any:
        began, wall = time.perf_counter(), time.time()
        try:
            return songs_handler(ctx, request)
        finally:
            timings.append((wall, time.perf_counter() - began))

    server = Server(settings, registry={**REGISTRY, Topic.SONGS_UPDATE: timed})
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    server.start()
    server.wait()
    history = server.history
    server.stop()
    counts = {"written": history.written, "dropped": history.dropped} if history else {}
    Path(timings_path).write_text(json.dumps({"songs": timings, "history": counts}))
    return 0


@contextmanager
def server_child(settings: Settings, timings_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    from bluetrack.stack.apps import child_env

    log = (settings.home / "bench-server.log").open("wb")
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_server", "serve", str(timings_path)],
        env=child_env(settings),
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(60)
        log.close()


# --- sessions and plays ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BenchSession:
    record: SessionRecord
    token: bytes


def live_sessions(db: Any, count: int, ttl: timedelta = timedelta(hours=2)) -> list[BenchSession]:
    now = utc_now()
    sessions = []
    for i in range(count):
        token = sealing.new_token()
        record = SessionRecord(
            new_id(), new_id(), f"bench{i}", sealing.token_hash(token), now, now + ttl
        )
        sessions.append(BenchSession(record, token))
    repository = SessionRepository(db)
    for session in sessions:
        repository.create(session.record)
    return sessions


def signed_plays(
    keys: ServerKeys, sessions: list[BenchSession], tracks: list[TrackSummary], count: int
) -> list[tuple[bytes, bytes]]:
    now = utc_now()
    records = [s.record for s in sessions]
    play_keys = {
        r.session_id: sealing.play_key_for(keys.master_secret, r.session_id) for r in records
    }
    pairs = []
    for i in range(count):
        session = records[i % len(records)]
        track = tracks[(i * 7919) % len(tracks)]
        at = now - timedelta(seconds=60 + (i % 600))
        event = sealing.sign_play(
            play_keys[session.session_id],
            PlayEvent(
                event_id=new_id(),
                user_id=session.user_id,
                session_id=session.session_id,
                client_id=f"bench-client-{i % len(records):05d}",
                track_id=track.track_id,
                operation_type=("start", "pause", "resume", "stop", "end")[i % 5],
                start_time=at - timedelta(seconds=30),
                event_time=at,
                duration_ms=track.duration_ms,
                genre=track.genres[0],
                mac="0" * 64,
            ),
        )
        pairs.append((session.user_id.encode(), codec.encode(event)))
    return pairs


def produce_plays(settings: Settings, pairs: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(settings)
    for key, value in pairs:
        while True:
            try:
                producer.produce(Topic.SONGS_TRACKER, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.01)
    if producer.flush(120):
        raise RuntimeError("the benchmark's play events were not all delivered")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_pids(settings: Settings, server_pid: int) -> dict[str, int]:
    """The processes sharing the machine's cores during the plays run."""
    pids = {"server": server_pid, "benchmark": os.getpid()}
    for name in (kafka.NAME, ferretdb.NAME):
        pid = processes.running_pid(settings.home, name)
        if pid is not None:
            pids[name] = pid
    return pids


def accepted_rate(
    settings: Settings, expected: int, server_pid: int, timeout_s: float = 600
) -> dict[str, Any]:
    """Read frames of AcceptedPlay until ``expected`` plays arrived; rate from broker timestamps.

    The server's CPU time between the first and the last arrival gives a figure that does
    not depend on what else the machine is running: CPU microseconds per accepted play. The
    CPU of every process of the stack over the same span says where the cores went.
    """
    pids = stack_pids(settings, server_pid)
    cores_first = cores_last = _cpu_of(pids), time.monotonic()
    consumer = make_consumer(settings, f"bench-accepted-{uuid.uuid4().hex}")
    consumer.assign(
        [
            TopicPartition(Topic.PLAYS_ACCEPTED, p, 0)
            for p in consumer.list_topics(Topic.PLAYS_ACCEPTED, timeout=30)
            .topics[Topic.PLAYS_ACCEPTED]
            .partitions
        ]
    )
    stamps: list[tuple[float, int]] = []  # (broker timestamp, plays) of every frame
    seen = seen_at_first_cpu = 0
    cpu_first = cpu_last = 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < expected and time.monotonic() < deadline:
            batch = [m for m in consumer.consume(10_000, 0.2) if m.error() is None]
            if not batch:
                continue
            frames = [(m.timestamp()[1] / 1000, play_count(m.value() or b"")) for m in batch]
            plays = sum(count for _, count in frames)
            if not stamps:
                cpu_first, seen_at_first_cpu = cpu_seconds(server_pid), plays
                cores_first = _cpu_of(pids), time.monotonic()
            stamps.extend(frames)
            seen += plays
            cpu_last = cpu_seconds(server_pid)
            cores_last = _cpu_of(pids), time.monotonic()
    finally:
        consumer.close()
    if len(stamps) < 2:
        raise RuntimeError(f"only {seen} of {expected} plays were accepted")
    stamps.sort()
    (first, in_first), last = stamps[0], stamps[-1][0]
    return {
        "events": expected,
        "accepted": seen,
        "frames": len(stamps),
        "seconds": round(last - first, 2),
        # The first frame's plays were accepted before the clock started.
        "events_per_s": round((seen - in_first) / max(last - first, 1e-3)),
        "server_cpu_us_per_event": round(
            (cpu_last - cpu_first) / max(seen - seen_at_first_cpu, 1) * 1e6, 1
        ),
        "cores_used": _cores(cores_first, cores_last),
    }


def _cpu_of(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def _cores(
    first: tuple[dict[str, float], float], last: tuple[dict[str, float], float]
) -> dict[str, float]:
    """Cores each process used on average between two samples (CPU seconds / wall seconds)."""
    (cpu_first, at_first), (cpu_last, at_last) = first, last
    wall = max(at_last - at_first, 1e-3)
    return {name: round((cpu_last[name] - cpu_first[name]) / wall, 2) for name in cpu_first}


def verifier_rate(
    pairs: list[tuple[bytes, bytes]],
    keys: ServerKeys,
    catalogue: CatalogueCache,
    *,
    columnar: bool = True,
) -> float:
    """Events per CPU-second through PlayVerifier alone: the ceiling of the hot path."""
    store = InMemorySessions()
    now = utc_now()
    for _, raw in pairs:
        event = PlayEvent.model_validate_json(raw)
        if event.session_id not in store.sessions:
            store.create(
                SessionRecord(
                    event.session_id, event.user_id, "u", "", now, now + timedelta(hours=1)
                )
            )
    verifier = PlayVerifier(
        SessionCache(store, keys.master_secret),
        catalogue.track_index(),
        TimeRules.of(30, 3600),
        columnar=columnar,
    )
    messages = as_messages([raw for _, raw in pairs])
    began = time.process_time()  # CPU time: what the machine's other load cannot inflate
    for i in range(0, len(messages), 5000):
        batch = verifier.verify_batch(messages[i : i + 5000])
        if batch.rejected:
            raise RuntimeError("the benchmark's own events must all be accepted")
    return len(messages) / (time.process_time() - began)


# --- songs_update ---------------------------------------------------------------------------------
class Multiplexer:
    """Many logical clients over one producer and one reply consumer.

    The listener only reads the reply's request id (a regular expression on the first bytes)
    and notes when it arrived. Every reply is checked to be ``ok``; one in CHECK_EVERY is
    decoded and validated in full. Fifty clients validating 60 kB replies in ONE Python
    process on a shared 2-CPU machine would otherwise be what the benchmark measures (each
    real client has its own CPU for that).
    """

    _REQUEST_ID = re.compile(rb'"request_id":"([A-Za-z0-9_-]+)"')

    def __init__(self, settings: Settings) -> None:
        self._producer: Producer = make_producer(settings, **{"linger.ms": 0})
        self._consumer: Consumer = make_consumer(
            settings, f"bench-replies-{uuid.uuid4().hex}", **{"fetch.wait.max.ms": 5}
        )
        assign_at_end(self._consumer, [Topic.SONGS_RESPONSE], timeout_s=30)
        self._pending: dict[bytes, Future[tuple[bytes, float]]] = {}
        self._checked = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def call(self, request: SongsRequest, timeout_s: float = 30.0) -> float:
        """Send, wait for the reply, check it; returns the seconds until it arrived."""
        future: Future[tuple[bytes, float]] = Future()
        with self._lock:
            self._pending[request.request_id.encode()] = future
        began = time.perf_counter()
        self._producer.produce(Topic.SONGS_UPDATE, codec.encode(request), request.client_id)
        self._producer.poll(0)
        raw, arrived = future.result(timeout_s)
        if b'"ok":true' not in raw[:300]:
            raise RuntimeError(f"songs_update failed: {raw[:300]!r}")
        self._checked += 1
        if self._checked % CHECK_EVERY == 0:  # validating every 60 kB reply would be the
            reply = codec.decode(raw, SongsReply, max_bytes=codec.MAX_REPLY_BYTES)  # bottleneck
            if not reply.shelves:
                raise RuntimeError("songs_update returned no shelves")
        return arrived - began

    def _listen(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0)
            msg = self._consumer.poll(0.01)
            if msg is None or msg.error() is not None:
                continue
            arrived = time.perf_counter()
            raw = msg.value() or b""
            found = self._REQUEST_ID.search(raw, 0, 200)
            with self._lock:
                future = self._pending.pop(found.group(1), None) if found else None
            if future is not None:
                future.set_result((raw, arrived))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()
        self._producer.flush(5)


def songs_round_trips(
    mux: Multiplexer,
    keys: ServerKeys,
    sessions: list[BenchSession],
    clients: int,
    per_client: int,
    think_s: float = 0.0,
) -> dict[str, Any]:
    """``clients`` clients, each sending ``per_client`` requests one after the other, waiting
    a random think time (exponential, mean ``think_s``; 0: none) before each."""

    def one_client(index: int) -> list[float]:
        session, token = sessions[index].record, sessions[index].token
        client_id = f"bench-songs-{index:04d}"
        pause = random.Random(index)  # the same pauses every run
        latencies = []
        for _ in range(per_client):
            if think_s:
                time.sleep(pause.expovariate(1 / think_s))
            request_id = new_id()
            request = SongsRequest(
                request_id=request_id,
                client_id=client_id,
                session_id=session.session_id,
                sealed_auth=auth_proof(keys, token, request_id, client_id, utc_now()),
            )
            latencies.append(mux.call(request))
        return latencies

    began_wall, began = time.time(), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        samples = [x for chunk in pool.map(one_client, range(clients)) for x in chunk]
    elapsed = time.perf_counter() - began
    return {
        "clients": clients,
        "think_s": think_s,
        "requests": len(samples),
        "requests_per_s": round(len(samples) / elapsed, 1),
        **summary(samples),
        "window": (began_wall, began_wall + elapsed),
    }


def wait_until_serving(mux: Multiplexer, keys: ServerKeys, session: BenchSession) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            songs_round_trips(mux, keys, [session], 1, 1)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def history_caught_up(db: Any, expected: int, timeout_s: float = 600) -> float | None:
    """Seconds until the store holds ``expected`` history entries (None: not in time)."""
    from bluetrack.store.history import COLLECTION

    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if db[COLLECTION].estimated_document_count() >= expected:
            return round(time.monotonic() - began, 1)
        time.sleep(1.0)
    return None


# --- the floor: Kafka alone -----------------------------------------------------------------------
ECHO_IN, ECHO_OUT = "bench_echo_requests", "bench_echo_replies"


def kafka_echo_round_trips(settings: Settings, count: int = 300) -> dict[str, float]:
    """Round trips through an echo that does nothing but consume and produce, with the same
    client settings: what any Kafka request/reply costs on this machine, server or not."""
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    from bluetrack.stack.topics import admin_client

    admin = admin_client(settings)
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in (ECHO_IN, ECHO_OUT)]).values():
        future.result(30)
    stop = threading.Event()
    listening = threading.Event()

    def echo() -> None:
        consumer = make_consumer(settings, f"bench-echo-{uuid.uuid4().hex}")
        producer = make_producer(settings, **{"linger.ms": 0})
        consumer.subscribe([ECHO_IN], on_assign=lambda *_: listening.set())
        while not stop.is_set():
            msg = consumer.poll(0.05)
            if msg is not None and msg.error() is None:
                producer.produce(ECHO_OUT, msg.value(), msg.key())
                producer.poll(0)
        consumer.close()
        producer.flush(5)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    producer = make_producer(settings, **{"linger.ms": 0})
    consumer = make_consumer(
        settings, f"bench-echo-client-{uuid.uuid4().hex}", **{"fetch.wait.max.ms": 5}
    )
    assign_at_end(consumer, [ECHO_OUT], timeout_s=30)
    listening.wait(60)
    samples = []
    try:
        for _ in range(count + 30):  # the first 30 warm up connections
            token = uuid.uuid4().bytes
            began = time.perf_counter()
            producer.produce(ECHO_IN, token, b"k")
            producer.poll(0)
            while True:
                msg = consumer.poll(1.0)
                if msg is not None and msg.error() is None and msg.value() == token:
                    break
            samples.append(time.perf_counter() - began)
    finally:
        stop.set()
        thread.join(10)
        consumer.close()
    return summary(samples[30:])


# --- login ----------------------------------------------------------------------------------------
def login_rate(settings: Settings, users: int, logins: int, server_pid: int) -> dict[str, Any]:
    """Logins per second with ``server_workers`` logins in flight (one client each)."""
    concurrent = min(settings.server_workers, logins)
    clients = [BlueTrackClient(settings) for _ in range(concurrent)]
    names = [f"login{uuid.uuid4().hex[:8]}" for _ in range(users)]
    try:
        with ThreadPoolExecutor(concurrent) as pool:
            list(pool.map(lambda i: _register(clients[i % concurrent], names[i]), range(users)))
            began, cpu_before = time.perf_counter(), cpu_seconds(server_pid)
            done = list(
                pool.map(
                    lambda i: clients[i % concurrent].login(names[i % users], PASSWORD),
                    range(logins),
                )
            )
            elapsed = time.perf_counter() - began
            cpu = cpu_seconds(server_pid) - cpu_before
    finally:
        for client in clients:
            client.close()
    return {
        "server_cpu_ms_per_login": round(cpu / len(done) * 1e3, 1),
        "bcrypt_cost": settings.bcrypt_cost,
        "logins": len(done),
        "concurrent": concurrent,
        "logins_per_s": round(len(done) / elapsed, 2),
    }


def _register(client: BlueTrackClient, name: str) -> None:
    client.register(name, f"{name}@example.com", PASSWORD)


# --- all of it -----------------------------------------------------------------------------------
def run() -> dict[str, Any]:
    import pymongo

    load_before = round(os.getloadavg()[0], 2)
    from bluetrack.stack.testing import running_stack

    with (
        tempfile.TemporaryDirectory(prefix="bench-server-") as home,
        running_stack(Path(home), get_settings()) as stack,
    ):
        settings = stack.model_copy(
            update={
                "mongodb_db": DB_NAME,
                "register_per_client_per_minute": 10_000,
                "request_timeout_s": 120.0,  # 16 logins at cost 12 queue up on small machines
            }
        )
        mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.store_uri)
        db = mongo[DB_NAME]
        keys = load_or_create(db)  # the child loads this same key, as a second server would
        catalogue_label = import_catalogue(db, settings)
        catalogue = CatalogueCache.from_store(db)
        sessions = live_sessions(db, max(LISTENERS, *SONGS_CONCURRENCY))
        pairs = signed_plays(keys, sessions, playable_tracks(catalogue), PLAYS)
        produce_plays(settings, pairs)
        echo = kafka_echo_round_trips(settings)
        timings_path = Path(home) / "songs-timings.json"
        with server_child(settings, timings_path) as child:
            plays = accepted_rate(settings, len(pairs), child.pid)
            plays["events_per_server_cpu_s"] = round(1e6 / plays["server_cpu_us_per_event"])
            # The listening history is written behind the plays (batched, off the hot path);
            # songs_update is measured once it has caught up, not against its backlog.
            cpu_before = cpu_seconds(child.pid)
            plays["history_caught_up_after_s"] = history_caught_up(db, len(pairs))
            # The history written after the last frame costs the server CPU too (with its idle
            # polling meanwhile): an upper bound of what the per-event figure leaves out.
            plays["history_tail_server_cpu_us_per_event"] = round(
                (cpu_seconds(child.pid) - cpu_before) / len(pairs) * 1e6, 1
            )
            mux = Multiplexer(settings)
            try:
                wait_until_serving(mux, keys, sessions[0])
                # Warm-up: every session used below once (a real client's login puts its
                # session in the server's cache; these were written to the store directly).
                songs_round_trips(mux, keys, sessions, max(SONGS_CONCURRENCY), 2)
                latency = []
                runs = [(n, SONGS_PER_CLIENT, 0.0) for n in SONGS_CONCURRENCY]
                runs.append((max(SONGS_CONCURRENCY), SONGS_PACED_PER_CLIENT, SONGS_THINK_S))
                for clients, per_client, think_s in runs:
                    cpu_before = cpu_seconds(child.pid)
                    figures = songs_round_trips(
                        mux, keys, sessions, clients, per_client, think_s=think_s
                    )
                    cpu = cpu_seconds(child.pid) - cpu_before
                    figures["server_cpu_ms_per_request"] = round(cpu / figures["requests"] * 1e3, 2)
                    latency.append(figures)
            finally:
                mux.close()
            login = login_rate(settings, users=8, logins=LOGINS, server_pid=child.pid)
        mongo.close()
        child_report = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    handler = child_report.get("songs", [])
    for figures in latency:
        start, end = figures.pop("window")
        figures["handler"] = summary([s for at, s in handler if start <= at <= end])
    plays["history_written_dropped"] = child_report.get("history")
    # Both ways of verifying, alternated in this one process (the machine is noisy): best of 3.
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for columnar in (False, True):
            rates[columnar].append(
                verifier_rate(pairs[:50_000], keys, catalogue, columnar=columnar)
            )
    plays["verifier_only_events_per_cpu_s"] = round(max(rates[settings.plays_columnar]))
    plays["verifier_only_events_per_cpu_s_per_event_path"] = round(max(rates[False]))
    plays["verifier_only_events_per_cpu_s_columnar"] = round(max(rates[True]))
    plays["columnar"] = settings.plays_columnar
    return {
        "bench": "server",
        "cpus": os.cpu_count(),
        # Other programs on the machine share those CPUs with broker, store and server.
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "server_processes": 1,
        "plays": plays,
        "songs_update": latency,
        "songs_update_50_clients_p95_ms": next(
            (row["p95_ms"] for row in latency if row["clients"] == 50 and row["think_s"]), None
        ),
        "songs_update_50_clients_back_to_back_p95_ms": next(
            (row["p95_ms"] for row in latency if row["clients"] == 50 and not row["think_s"]),
            None,
        ),
        "kafka_echo_round_trip": echo,
        "catalogue": f"{catalogue_label}: {len(catalogue)} playable tracks",
        "login": login,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve(sys.argv[2]))
    print(json.dumps(run(), indent=2))
