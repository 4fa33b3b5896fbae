"""A private Kafka + FerretDB on free ports, for test sessions and benchmarks.

Bring your own cluster: with ``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` set, the settings
say the part is external and nothing is started for it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

from bluetrack.config import Settings
from bluetrack.stack import ferretdb, kafka, lifecycle
from bluetrack.stack.topics import ensure_topics

log = logging.getLogger(__name__)

SERVICES = (lifecycle.KAFKA, lifecycle.FERRETDB)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nobody listens on right now (all held open while picking)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def private_settings(home: Path, base: Settings | None = None) -> Settings:
    """``base`` (default: from the environment) moved to ``home`` and free ports."""
    base = base or Settings()
    kafka_port, controller_port, ferretdb_port = free_ports(3)
    return base.model_copy(
        update={
            "home": home,
            "kafka_port": kafka_port,
            "kafka_controller_port": controller_port,
            "ferretdb_port": ferretdb_port,
        }
    )


def start_services(settings: Settings) -> dict[str, float]:
    """Start the local Kafka and FerretDB (if local) and create the topics; start times."""
    timings: dict[str, float] = {}
    for service in SERVICES:
        if service.is_local(settings):
            took = lifecycle.start_part(settings, service.name)
            timings[service.name] = took or 0.0
    ensure_topics(settings)
    return timings


def stop_services(settings: Settings) -> None:
    for service in reversed(SERVICES):
        if service.is_local(settings):
            lifecycle.stop_part(settings, service.name)


@contextlib.contextmanager
def running_stack(home: Path, base: Settings | None = None) -> Iterator[Settings]:
    """Kafka + FerretDB + topics for the ``with`` block; stopped afterwards, even on error."""
    settings = private_settings(home, base)
    try:
        timings = start_services(settings)
        log.info(
            "test stack up (%s): kafka %s, ferretdb %s",
            ", ".join(f"{name} {took:.1f}s" for name, took in timings.items()) or "external",
            kafka.address(settings),
            lifecycle.mask_password(ferretdb.address(settings)),
        )
        yield settings
    finally:
        stop_services(settings)
