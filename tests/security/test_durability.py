"""What an acknowledgement means: Kafka producers and store writes (docs/deploy.md).

Every producer waits for all in-sync replicas and is idempotent, whatever else the operator
configures; every MongoDB write that matters is acknowledged, and an operator's stronger
write concern (``w=majority`` in ``MONGODB_URI``) is kept, not overridden.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from bluetrack.bus.kafka import producer_config
from bluetrack.config import PROJECT_ROOT, Settings

SOURCE = PROJECT_ROOT / "src" / "bluetrack"
DURABILITY_KEYS = {"acks", "enable.idempotence", "request.required.acks", "retries"}


def test_producers_wait_for_all_replicas_and_are_idempotent() -> None:
    conf = producer_config(Settings())
    assert conf["acks"] == "all"
    assert conf["enable.idempotence"] is True


def test_extra_client_config_cannot_weaken_producer_durability() -> None:
    weak = json.dumps({"acks": "1", "enable.idempotence": "false", "linger.ms": "50"})
    conf = producer_config(Settings(kafka_extra_config=weak))
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True
    assert conf["linger.ms"] == 5  # ours too; extra settings add, they do not replace ours


def _calls(path: Path) -> list[tuple[str, ast.Call]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            found.append((name, node))
    return found


def _keyword_names(call: ast.Call, where: str) -> set[str]:
    """Keyword names of a call, including the keys of a ``**{"literal": ...}`` dict."""
    names = set()
    for keyword in call.keywords:
        if keyword.arg is not None:
            names.add(keyword.arg)
            continue
        assert isinstance(keyword.value, ast.Dict), f"{where}: **kwargs the scan cannot read"
        for key in keyword.value.keys:
            assert isinstance(key, ast.Constant), f"{where}: a computed setting name"
            names.add(str(key.value))
    return names


def test_every_producer_in_the_code_is_made_with_those_settings() -> None:
    """No ``Producer(...)`` outside bus/kafka.py, no durability override at any call site."""
    files = sorted(SOURCE.rglob("*.py"))
    producers, factory_calls = [], 0
    factory = SOURCE / "bus" / "kafka.py"
    for path in files:
        for name, call in _calls(path):
            where = f"{path.relative_to(PROJECT_ROOT)}:{call.lineno}"
            if name == "Producer" and path != factory:
                producers.append(where)
            if name in ("make_producer", "producer_config") and path != factory:
                factory_calls += 1
                overridden = _keyword_names(call, where) & DURABILITY_KEYS
                assert not overridden, f"{where} overrides {overridden}"
    assert not producers, f"producers made without bus.kafka.producer_config: {producers}"
    assert factory_calls >= 3  # server (2), request client: the scan found the real sites


@pytest.mark.integration
def test_store_writes_are_acknowledged(stack_settings: Settings, mongo_db: Any) -> None:
    from bluetrack.store.database import open_database

    db = open_database(stack_settings.model_copy(update={"mongodb_db": mongo_db.name}))
    try:
        assert db.write_concern.acknowledged
        assert db.write_concern.document.get("w", 1) != 0
        # Every repository writes through collections of this database, inheriting it.
        for name in ("users", "sessions", "listening_history", "server_keys", "charts"):
            assert db[name].write_concern.acknowledged, name
        result = db["durability_probe"].insert_one({"probe": 1})
        assert result.acknowledged
    finally:
        db.client.close()


def test_the_store_keeps_a_stronger_write_concern_from_the_uri() -> None:
    from bluetrack.store.database import open_database

    uri = "mongodb://db1.invalid,db2.invalid/?replicaSet=rs0&w=majority&journal=true"
    db = open_database(Settings(mongodb_uri=uri), ping=False)
    try:
        assert db.write_concern.document.get("w") == "majority", db.write_concern.document
        assert db.write_concern.document.get("j") is True
    finally:
        db.client.close()


def test_no_store_code_lowers_the_write_concern() -> None:
    offenders = []
    for path in sorted((SOURCE / "store").rglob("*.py")):
        for name, call in _calls(path):
            if name == "WriteConcern":
                w = next((k.value for k in call.keywords if k.arg == "w"), None)
                if isinstance(w, ast.Constant) and w.value == 0:
                    offenders.append(f"{path.name}:{call.lineno}")
            for keyword in call.keywords:
                value = keyword.value
                if keyword.arg == "w" and isinstance(value, ast.Constant) and value.value == 0:
                    offenders.append(f"{path.name}:{call.lineno}")
    assert not offenders, f"unacknowledged writes: {offenders}"
