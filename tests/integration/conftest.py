"""Integration fixtures.

The session stack (``stack_settings``) and its helpers (``mongo_db``, ``mongo_settings``,
``kafka_clients``, ``kafka_topic``, ``stack_control``) live in tests/conftest.py so that
tests/e2e, tests/spark and tests/gui share the same single broker; this file adds what only
integration tests use.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that another program is listening on for the whole test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]
