"""Micro-benchmark of the chart engine alone (no Spark, no Kafka): events per second.

Synthetic traffic at 100k events per second of event time: each event picks a user at
random (so a 500k batch touches most of 100k users, or ~40% of 1M), mostly starts, with
stops, ends, pauses, resumes and a few logouts; arrival is up to 2 s out of order and 0.1%
of events come 40 s late. A warm-up lets most users appear before the timing starts.

    .venv/bin/python -m bench.bench_engine            # 100k and 1M users
    .venv/bin/python -m bench.bench_engine 1000000 3000000
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from bluetrack.processor.engine import ChartEngine

EVENTS_PER_S = 100_000  # event-time rate of the synthetic traffic
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
OPERATIONS = np.array(["start", "stop", "end", "pause", "resume", "logout"], dtype=object)
OPERATION_WEIGHTS = [0.6, 0.12, 0.12, 0.07, 0.08, 0.01]
GENRES = np.array([f"genre-{i:03d}" for i in range(114)], dtype=object)
DURATIONS_MS = np.array([15_000, 95_000, 180_000, 215_000, 240_000, 400_000], dtype=np.int64)


def synthetic_batches(
    n_users: int,
    n_events: int,
    batch_size: int,
    seed: int,
    first_event: int = 0,
    jitter_ms: int = 2_000,
) -> Iterator[pa.Table]:
    rng = np.random.default_rng(seed)
    users = np.array([f"user-{i:08d}" for i in range(n_users)], dtype=object)
    for start in range(first_event, first_event + n_events, batch_size):
        n = min(batch_size, first_event + n_events - start)
        serial = np.arange(start, start + n)
        event_time = T0_MS + serial * 1000 // EVENTS_PER_S
        event_time -= rng.integers(0, jitter_ms + 1, n)  # out of order within the watermark
        event_time[rng.random(n) < 0.001] -= 40_000  # late
        genre_index = rng.integers(0, len(GENRES), n)
        yield pa.table(
            {
                "event_id": pd.Series(serial).map("ev-{:012d}".format).to_numpy(object),
                "user_id": users[rng.integers(0, n_users, n)],
                "track_id": np.full(n, "track", dtype=object),
                "operation_type": OPERATIONS[rng.choice(len(OPERATIONS), n, p=OPERATION_WEIGHTS)],
                "start_time_ms": event_time,
                "event_time_ms": event_time,
                "duration_ms": DURATIONS_MS[genre_index % len(DURATIONS_MS)],
                "genre": GENRES[genre_index],
            }
        )  # Arrow, as the sink pulls batches


def bench_engine(
    n_users: int, n_events: int, batch_size: int = 500_000, jitter_ms: int = 2_000
) -> dict[str, Any]:
    """Warm up with ``2 * n_users`` events, then time ``n_events`` more in batches.

    Wall time on a shared box includes other processes; CPU time is the engine's own.
    """
    engine = ChartEngine()
    warm_up = max(2 * n_users, batch_size)  # most users known: the steady state
    batches = synthetic_batches(n_users, warm_up, batch_size, seed=1, jitter_ms=jitter_ms)
    for batch_id, batch in enumerate(batches):
        engine.step(batch, batch_id)
    batch_ms: list[float] = []
    cpu_s = 0.0
    timed = synthetic_batches(
        n_users, n_events, batch_size, seed=2, first_event=warm_up, jitter_ms=jitter_ms
    )
    for batch_id, batch in enumerate(timed, start=1_000):
        started, cpu_started = time.perf_counter(), time.process_time()
        engine.step(batch, batch_id)
        batch_ms.append((time.perf_counter() - started) * 1000)
        cpu_s += time.process_time() - cpu_started
    started = time.perf_counter()
    state = engine.to_bytes()
    saved_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    ChartEngine.from_bytes(state)
    loaded_ms = (time.perf_counter() - started) * 1000
    return {
        "users": n_users,
        "events": n_events,
        "batch_size": batch_size,
        "jitter_ms": jitter_ms,
        "events_per_s": round(n_events / (sum(batch_ms) / 1000)),
        "events_per_cpu_s": round(n_events / cpu_s),
        "batch_ms_median": round(float(np.median(batch_ms))),
        "batch_ms_max": round(max(batch_ms)),
        "state_rows": engine.state_rows(),
        "state_mb": round(len(state) / 1e6, 1),
        "to_bytes_ms": round(saved_ms),
        "from_bytes_ms": round(loaded_ms),
    }


def run() -> dict[str, Any]:
    return {
        "engine_100k_users": bench_engine(100_000, 3_000_000),
        "engine_1m_users": bench_engine(1_000_000, 3_000_000),
        "engine_1m_users_in_order": bench_engine(1_000_000, 3_000_000, jitter_ms=0),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(bench_engine(int(sys.argv[1]), int(sys.argv[2])), indent=2))
    else:
        print(json.dumps(run(), indent=2))
