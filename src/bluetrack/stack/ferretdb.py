"""FerretDB (MongoDB wire protocol over SQLite), built by `make setup` into ``<cache>/bin``."""

from __future__ import annotations

import time
from pathlib import Path

from bluetrack.config import Settings
from bluetrack.stack import processes
from bluetrack.stack.exceptions import MissingBinary

NAME = "ferretdb"
HOST = "127.0.0.1"


def binary(settings: Settings) -> Path:
    return settings.cache / "bin" / "ferretdb"


def state_dir(settings: Settings) -> Path:
    return settings.home / "ferretdb"


def address(settings: Settings) -> str:
    return settings.store_uri


def process_spec(settings: Settings) -> processes.ProcessSpec:
    exe = binary(settings)
    if not exe.is_file():
        raise MissingBinary(f"FerretDB not found at {exe}: run `make setup`")
    return processes.ProcessSpec(
        name=NAME,
        argv=(
            str(exe),
            f"--listen-addr={HOST}:{settings.ferretdb_port}",
            f"--state-dir={state_dir(settings)}",
        ),
        cwd=state_dir(settings),
    )


def is_ready(settings: Settings) -> bool:
    """FerretDB answers a ping (it opens the SQLite directory before listening)."""
    if not processes.port_open(settings.ferretdb_port):
        return False
    import pymongo
    import pymongo.errors

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        f"mongodb://{HOST}:{settings.ferretdb_port}/", serverSelectionTimeoutMS=1000
    )
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()


def start(settings: Settings) -> float | None:
    """Start FerretDB and wait for a ping; seconds taken, or None if already up."""
    if processes.running_pid(settings.home, NAME) is not None:
        return None
    began = time.monotonic()
    processes.ensure_port_free(settings.ferretdb_port, "FerretDB", "BLUETRACK_FERRETDB_PORT")
    pid = processes.launch(settings.home, process_spec(settings))
    processes.wait_ready(
        settings.home, NAME, pid, lambda: is_ready(settings), settings.start_timeout_s
    )
    return time.monotonic() - began
