"""Opening the database, and the one place every repository's indexes are created.

``open_database`` gives a pymongo ``Database`` with bounded timeouts (a stopped FerretDB
fails in seconds instead of hanging) and acknowledged writes. Close it with
``db.client.close()``, or use ``connected`` as a context manager.

Repositories declare their indexes with ``@index_hook("name")`` on a function taking the
``Database``; ``ensure_indexes(db)`` imports every module of ``bluetrack.store`` (so no hook
is forgotten because nobody imported its module) and runs the hooks in name order.
Hooks must be idempotent: ``create_index`` with a fixed name is.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymongo
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from bluetrack.config import Settings
from bluetrack.store.exceptions import StoreError, StoreUnavailable

IndexHook = Callable[[Database[Any]], None]
_HOOKS: dict[str, IndexHook] = {}


def open_database(settings: Settings, *, ping: bool = True) -> Database[Any]:
    """The configured database; with ``ping``, raise StoreUnavailable unless it answers."""
    timeout_ms = int(settings.mongodb_timeout_s * 1000)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        settings.store_uri,
        appname="bluetrack",
        tz_aware=True,
        # No w= here: the default is acknowledged, and a stronger write concern named in
        # MONGODB_URI (w=majority on a replica set) must win.
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        # One operation may run long (a catalogue import, a full read on FerretDB) but must
        # not hang forever on a server that stopped answering.
        socketTimeoutMS=int(settings.mongodb_operation_timeout_s * 1000),
    )
    db = client[settings.mongodb_db]
    if ping:
        try:
            db.command("ping")
        except ConnectionFailure as exc:
            client.close()
            raise StoreUnavailable(
                f"no database at {_without_password(settings.store_uri)} "
                f"(waited {settings.mongodb_timeout_s:g} s): is `bluetrack up` running?"
            ) from exc
    return db


@contextmanager
def connected(settings: Settings) -> Iterator[Database[Any]]:
    db = open_database(settings)
    try:
        yield db
    finally:
        db.client.close()


def index_hook(name: str) -> Callable[[IndexHook], IndexHook]:
    """Register ``hook`` to create the indexes of ``name`` (one hook per name)."""

    def register(hook: IndexHook) -> IndexHook:
        _HOOKS[name] = hook
        return hook

    return register


def ensure_indexes(db: Database[Any]) -> list[str]:
    """Run every repository's index hook; returns the names run."""
    _import_store_modules()
    for name in sorted(_HOOKS):
        try:
            _HOOKS[name](db)
        except PyMongoError as exc:
            code = getattr(exc, "code", None)
            raise StoreError(f"creating the {name} indexes failed: {exc}", code) from exc
    return sorted(_HOOKS)


def _import_store_modules() -> None:
    import bluetrack.store as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def _without_password(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return uri
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"
