"""Fixtures shared by every test folder.

The stack fixtures start nothing until a test asks for them: unit tests never touch a broker.
The first test that requests ``stack_settings`` (directly or through ``mongo_db``,
``kafka_clients``, ``kafka_topic`` or ``stack_control``) starts ONE Kafka broker and ONE
FerretDB on free ports in a temporary home for the whole session, reusing what `make setup`
put in .cache/. Bring your own cluster: set ``KAFKA_BOOTSTRAP_SERVERS`` and/or
``MONGODB_URI`` and those are used instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bluetrack.config import Settings

# GUI tests run headless here and in CI; a developer can still export another platform.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at the session's Kafka and store, with every topic created."""
    from bluetrack.stack.testing import running_stack

    with running_stack(tmp_path_factory.mktemp("stack")) as settings:
        yield settings


@pytest.fixture(scope="session")
def mongo_client(stack_settings: Settings) -> Iterator[Any]:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        stack_settings.store_uri, serverSelectionTimeoutMS=10_000
    )
    yield client
    client.close()


@pytest.fixture
def mongo_db(mongo_client: Any) -> Iterator[Any]:
    """A fresh, uniquely named database (pymongo ``Database``), dropped after the test."""
    name = unique_name("test")
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture
def mongo_settings(stack_settings: Settings, mongo_db: Any) -> Settings:
    """``stack_settings`` whose ``mongodb_db`` is this test's fresh database."""
    return stack_settings.model_copy(update={"mongodb_db": mongo_db.name})


class KafkaClients:
    """Makes confluent-kafka producers and consumers for one test; closes them afterwards."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producers: list[Any] = []
        self._consumers: list[Any] = []

    def producer(self, **overrides: Any) -> Any:
        from confluent_kafka import Producer

        producer = Producer({**self.settings.kafka_client_config(), **overrides})
        self._producers.append(producer)
        return producer

    def consumer(self, *topics: str, **overrides: Any) -> Any:
        """A consumer in a group of its own, reading from the earliest offset."""
        from confluent_kafka import Consumer

        conf = {
            **self.settings.kafka_client_config(),
            "group.id": unique_name("test-group"),
            "auto.offset.reset": "earliest",
            **overrides,
        }
        consumer = Consumer(conf)
        if topics:
            consumer.subscribe(list(topics))
        self._consumers.append(consumer)
        return consumer

    def close(self) -> None:
        for producer in self._producers:
            producer.flush(5)
        for consumer in self._consumers:
            consumer.close()


@pytest.fixture
def kafka_clients(stack_settings: Settings) -> Iterator[KafkaClients]:
    """Factory: ``kafka_clients.producer(**conf)``, ``kafka_clients.consumer(*topics, **conf)``."""
    clients = KafkaClients(stack_settings)
    yield clients
    clients.close()


@pytest.fixture
def kafka_topic(stack_settings: Settings) -> Iterator[Callable[..., str]]:
    """Factory: ``kafka_topic(partitions=1)`` creates a uniquely named topic, deleted after."""
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    from bluetrack.stack.topics import admin_client

    admin = admin_client(stack_settings)
    created: list[str] = []

    def create(partitions: int = 1, **config: str) -> str:
        name = unique_name("test-topic")
        new_topic = NewTopic(name, num_partitions=partitions, replication_factor=-1, config=config)
        admin.create_topics([new_topic])[name].result(30)
        created.append(name)
        return name

    yield create
    if created:
        from bluetrack.stack.testing import start_services

        start_services(stack_settings)  # a fault test may have left the broker down
        for future in admin.delete_topics(created).values():
            future.result(30)


class StackControl:
    """Stop, kill -9 and restart one part of the session stack (fault tests)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _local(self, name: str) -> None:
        from bluetrack.stack.lifecycle import part

        if not part(name).is_local(self.settings):
            pytest.skip(f"{name} is an external service here: cannot stop it")

    def kill(self, name: str) -> None:
        from bluetrack.stack import kill_part

        self._local(name)
        kill_part(self.settings, name)

    def stop(self, name: str) -> None:
        from bluetrack.stack import stop_part

        self._local(name)
        stop_part(self.settings, name)

    def start(self, name: str) -> float | None:
        """Start ``name`` again and wait until it serves; seconds taken (None: was up)."""
        from bluetrack.stack import start_part

        return start_part(self.settings, name)

    def restore(self) -> None:
        from bluetrack.stack.testing import start_services

        start_services(self.settings)


@pytest.fixture
def stack_control(stack_settings: Settings) -> Iterator[StackControl]:
    """Kill/stop/start ``"kafka"`` or ``"ferretdb"``; everything is up again after the test."""
    control = StackControl(stack_settings)
    yield control
    control.restore()
