"""Idempotent creation of every topic in ``protocol.topics`` with explicit partition counts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bluetrack.config import Settings
from bluetrack.protocol.topics import TOPIC_SPECS, TopicSpec, partitions_for
from bluetrack.stack.exceptions import StackError

if TYPE_CHECKING:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class TopicState:
    name: str
    partitions: int
    compacted: bool
    # "created", "exists", "grown" (partitions added) or "too many partitions: N"
    outcome: str


def wanted_partitions(spec: TopicSpec, settings: Settings) -> int:
    return partitions_for(
        spec,
        plays=settings.plays_partitions,
        requests=settings.request_partitions,
        replies=settings.reply_partitions,
    )


def admin_client(settings: Settings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    conf: dict[str, str | int | float | bool] = {**settings.kafka_client_config()}
    return AdminClient(conf)


def existing_partitions(admin: AdminClient) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
    except Exception as exc:  # KafkaException: broker unreachable
        raise StackError(f"cannot list Kafka topics: {exc}") from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def ensure_topics(settings: Settings) -> list[TopicState]:
    """Create missing topics and grow ones with too few partitions; never shrink or delete."""
    admin = admin_client(settings)
    existing = existing_partitions(admin)
    missing = [spec for spec in TOPIC_SPECS if spec.topic.value not in existing]
    _create(admin, missing, settings)
    too_few = [
        spec
        for spec in TOPIC_SPECS
        if spec.topic.value in existing
        and existing[spec.topic.value] < wanted_partitions(spec, settings)
    ]
    _grow(admin, too_few, settings)
    if missing or too_few:
        wait_for_leaders(settings, [spec.topic.value for spec in [*missing, *too_few]])
    return [_state(spec, settings, existing, missing, too_few) for spec in TOPIC_SPECS]


def wait_for_leaders(
    settings: Settings, names: list[str], timeout_s: float = ADMIN_TIMEOUT_S
) -> None:
    """Until every partition of ``names`` answers an offsets request.

    A just-created topic has a leader in the metadata a moment before that leader serves;
    meanwhile reads fail with NOT_LEADER_FOR_PARTITION, and the first user must not see that.
    """
    from confluent_kafka import Consumer

    conf: dict[str, str | int | float | bool] = {
        **settings.kafka_client_config(),
        "group.id": "bluetrack-stack-probe",  # never joins: watermarks need no group
    }
    probe = Consumer(conf)
    try:
        deadline = time.monotonic() + timeout_s
        pending = _partitions(admin_client(settings), names)
        while pending:
            pending = [tp for tp in pending if not _serves(probe, tp)]
            if pending and time.monotonic() > deadline:
                raise StackError(f"topic partitions not served after {timeout_s:.0f}s: {pending}")
    finally:
        probe.close()


def _partitions(admin: AdminClient, names: list[str]) -> list[TopicPartition]:
    from confluent_kafka import TopicPartition

    topics = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    return [TopicPartition(name, p) for name in names for p in topics[name].partitions]


def _serves(probe: Consumer, partition: TopicPartition) -> bool:
    from confluent_kafka import KafkaException

    try:
        probe.get_watermark_offsets(partition, timeout=5)
        return True
    except KafkaException:
        time.sleep(0.1)
        return False


def _state(
    spec: TopicSpec,
    settings: Settings,
    existing: dict[str, int],
    missing: list[TopicSpec],
    too_few: list[TopicSpec],
) -> TopicState:
    wanted = wanted_partitions(spec, settings)
    have = existing.get(spec.topic.value, wanted)
    if spec in missing:
        outcome = "created"
    elif spec in too_few:
        outcome = "grown"
    elif have > wanted:
        # Kafka cannot remove partitions; the key -> partition mapping differs from the plan.
        outcome = f"too many partitions: {have}"
    else:
        outcome = "exists"
    return TopicState(spec.topic.value, max(have, wanted), spec.compacted, outcome)


def _create(admin: AdminClient, specs: list[TopicSpec], settings: Settings) -> None:
    from confluent_kafka import KafkaError

    # Documented home of NewTopic; the stub just doesn't re-export it from cimpl.
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    if not specs:
        return
    new_topics = [
        NewTopic(
            spec.topic.value,
            num_partitions=wanted_partitions(spec, settings),
            replication_factor=-1,  # the cluster's default: 1 locally, 3 in production
            config={"cleanup.policy": "compact"} if spec.compacted else {},
        )
        for spec in specs
    ]
    for name, future in admin.create_topics(new_topics, request_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result()
        except Exception as exc:  # KafkaException carrying a KafkaError
            code = exc.args[0].code() if exc.args and hasattr(exc.args[0], "code") else None
            if code != KafkaError.TOPIC_ALREADY_EXISTS:  # another `up` raced us: fine
                raise StackError(f"cannot create topic {name}: {exc}") from exc


def _grow(admin: AdminClient, specs: list[TopicSpec], settings: Settings) -> None:
    from confluent_kafka.admin import NewPartitions  # type: ignore[attr-defined]

    if not specs:
        return
    requests = [
        NewPartitions(spec.topic.value, wanted_partitions(spec, settings)) for spec in specs
    ]
    for name, future in admin.create_partitions(requests, request_timeout=ADMIN_TIMEOUT_S).items():
        try:
            future.result()
        except Exception as exc:
            raise StackError(f"cannot add partitions to topic {name}: {exc}") from exc
