"""The engine's state, one file per batch id, beside Spark's checkpoint.

``state_{N}`` holds the engine after batch N. It is written (atomically: temp file, fsync,
rename) after batch N's chart is published and before Spark commits the batch. Spark re-runs
only the last uncommitted batch, with the same offsets, so batch N always starts from
``state_{N-1}`` and a replay recomputes the same chart. A few older states are kept; the rest
are deleted.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from bluetrack.processor.exceptions import CheckpointError

log = logging.getLogger(__name__)

_STATE_NAME = re.compile(r"^state_(\d+)$")


class EngineStateFiles:
    def __init__(self, directory: Path, keep: int = 3) -> None:
        if keep < 2:
            raise ValueError("keep at least 2 states: a replay of batch N needs state N-1")
        self.directory = directory
        self.keep = keep
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, batch_id: int) -> Path:
        return self.directory / f"state_{batch_id}"

    def batch_ids(self) -> list[int]:
        ids = []
        for entry in self.directory.iterdir():
            if match := _STATE_NAME.match(entry.name):
                ids.append(int(match.group(1)))
        return sorted(ids)

    def load(self, batch_id: int) -> bytes:
        try:
            return self.path(batch_id).read_bytes()
        except FileNotFoundError as exc:
            raise CheckpointError(
                f"engine state of batch {batch_id} is missing from {self.directory}: the Spark "
                "checkpoint and the engine states belong together; delete the whole checkpoint "
                "directory to start over from the earliest offsets"
            ) from exc

    def save(self, batch_id: int, data: bytes) -> None:
        target = self.path(batch_id)
        temp = target.with_name(f".{target.name}.tmp")
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
        self._fsync_directory()
        self._prune(batch_id)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _prune(self, newest: int) -> None:
        for batch_id in self.batch_ids():
            if batch_id <= newest - self.keep:
                self.path(batch_id).unlink(missing_ok=True)
