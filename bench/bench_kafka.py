"""Kafka produce rate of play events: confluent-kafka (librdkafka) and kafka-python side by side.

Both clients send the same signed play events (JSON as on ``songs_tracker``, keyed by user)
to a scratch topic on the local broker, with the same guarantees: acks=all, idempotence,
5 ms linger, no compression (kafka-python needs the optional ``lz4`` package for BlueTrack's
lz4, so the fair comparison leaves compression out). A third run is confluent-kafka with the
project's own producer settings (lz4), what the simulator and the server really use.

A rate is events whose delivery the broker confirmed, divided by the time from the first
send to the last confirmation. ``python -m bench.bench_kafka`` prints the figures as JSON;
it starts a private Kafka on free ports for the run (``stack.testing.running_stack``), or
uses the cluster named by ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from bluetrack.bus.kafka import producer_config
from bluetrack.config import Settings
from bluetrack.protocol import codec, sealing
from bluetrack.protocol.envelope import new_id
from bluetrack.protocol.plays import PlayEvent
from bluetrack.stack.testing import running_stack
from bluetrack.stack.topics import admin_client

TOPIC = "bench_play_events"
EVENTS = int(os.environ.get("BENCH_KAFKA_EVENTS", "100000"))
DISTINCT = 2000  # distinct signed events, cycled (signing is not what is measured)
USERS = 500
WARMUP = 2000
FAIR = {"linger.ms": 5, "compression.type": "none"}


def play_events(count: int = DISTINCT, users: int = USERS) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: signed play events as a client sends them."""
    play_key = sealing.new_token()
    began = datetime(2026, 1, 1, tzinfo=UTC)
    pairs = []
    for i in range(count):
        user = f"user{i % users:06d}"
        event = sealing.sign_play(
            play_key,
            PlayEvent(
                event_id=new_id(),
                user_id=user,
                session_id=f"session{i % users:06d}",
                client_id=f"client{i % users:06d}",
                track_id=f"track{i:06d}",
                operation_type=("start", "pause", "resume", "stop", "end")[i % 5],
                start_time=began,
                event_time=began + timedelta(seconds=i),
                duration_ms=200_000 + i,
                genre=("pop", "rock", "jazz", "k-pop", "drum-and-bass")[i % 5],
                mac="0" * 64,
            ),
        )
        pairs.append((user.encode(), codec.encode(event)))
    return pairs


def _cycled(pairs: list[tuple[bytes, bytes]], n: int) -> list[tuple[bytes, bytes]]:
    return [pairs[i % len(pairs)] for i in range(n)]


# --- the two clients --------------------------------------------------------------------------
def produce_confluent(
    settings: Settings, pairs: list[tuple[bytes, bytes]], overrides: dict[str, Any]
) -> dict[str, float]:
    producer = Producer(producer_config(settings, **overrides))
    failed = 0

    def delivered(err: KafkaError | None, msg: Message) -> None:
        nonlocal failed
        failed += err is not None

    began = time.perf_counter()
    for key, value in pairs:
        while True:
            try:
                producer.produce(TOPIC, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)  # the local queue is full: let deliveries drain it
        producer.poll(0)
    producer.flush(120)
    return _figures(len(pairs), failed, time.perf_counter() - began, pairs)


def produce_kafka_python(settings: Settings, pairs: list[tuple[bytes, bytes]]) -> dict[str, float]:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type=None,
    )
    failed = 0

    def on_error(exc: BaseException) -> None:
        nonlocal failed
        failed += 1

    began = time.perf_counter()
    for key, value in pairs:
        producer.send(TOPIC, value=value, key=key).add_errback(on_error)
    producer.flush(120)
    elapsed = time.perf_counter() - began
    producer.close()
    return _figures(len(pairs), failed, elapsed, pairs)


def _figures(
    sent: int, failed: int, elapsed_s: float, pairs: list[tuple[bytes, bytes]]
) -> dict[str, float]:
    payload = sum(len(k) + len(v) for k, v in pairs)
    return {
        "events": sent,
        "failed": failed,
        "seconds": round(elapsed_s, 3),
        "events_per_s": round((sent - failed) / elapsed_s),
        "mb_per_s": round(payload / elapsed_s / 1e6, 2),
    }


# --- the scratch topic ------------------------------------------------------------------------
def create_topic(settings: Settings) -> None:
    # Documented home of NewTopic; the stub just does not re-export it from cimpl.
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    admin = admin_client(settings)
    futures = admin.create_topics(
        [NewTopic(TOPIC, num_partitions=settings.plays_partitions, replication_factor=1)]
    )
    for future in futures.values():
        try:
            future.result(30)
        except Exception as exc:  # an existing topic from an interrupted run is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def delete_topic(settings: Settings) -> None:
    admin = admin_client(settings)  # held: the futures die with their client
    for future in admin.delete_topics([TOPIC]).values():
        future.result(30)


def run(settings: Settings | None = None) -> dict[str, Any]:
    """Produce ``EVENTS`` play events with each client against the broker of ``settings``;
    without settings, on a private local stack started for the run (on free ports, so a
    stack of `bluetrack up` is not disturbed) unless the environment names a cluster."""
    if settings is not None:
        return measure(settings)
    with (
        tempfile.TemporaryDirectory(prefix="bench-kafka-") as home,
        running_stack(Path(home)) as private,
    ):
        return measure(private)


def measure(settings: Settings) -> dict[str, Any]:
    pairs = play_events()
    create_topic(settings)
    try:
        # A short first round per client: connections, metadata, the producer id.
        produce_confluent(settings, _cycled(pairs, WARMUP), FAIR)
        produce_kafka_python(settings, _cycled(pairs, WARMUP))
        workload = _cycled(pairs, EVENTS)
        confluent = produce_confluent(settings, workload, FAIR)
        kafka_python = produce_kafka_python(settings, workload)
        project = produce_confluent(settings, workload, {})
    finally:
        delete_topic(settings)
    return {
        "bench": "kafka_produce_play_events",
        "broker": settings.bootstrap_servers,
        "partitions": settings.plays_partitions,
        "event_bytes": round(sum(len(v) for _, v in pairs) / len(pairs)),
        "confluent_kafka": confluent,
        "kafka_python": kafka_python,
        "confluent_kafka_lz4_project_settings": project,
        "confluent_over_kafka_python": round(
            confluent["events_per_s"] / max(kafka_python["events_per_s"], 1), 1
        ),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
