"""Engine states per batch id: atomic, pruned, and a clear error when one is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluetrack.processor.exceptions import CheckpointError
from bluetrack.processor.state_files import EngineStateFiles


def test_keeps_the_last_few_states_and_loads_them(tmp_path: Path) -> None:
    states = EngineStateFiles(tmp_path / "engine", keep=3)
    for batch_id in range(6):
        states.save(batch_id, f"state {batch_id}".encode())
    assert states.batch_ids() == [3, 4, 5]
    assert states.load(4) == b"state 4"
    assert not list((tmp_path / "engine").glob(".*.tmp"))  # no temp file left behind


def test_a_missing_state_says_what_to_do(tmp_path: Path) -> None:
    states = EngineStateFiles(tmp_path / "engine")
    with pytest.raises(CheckpointError, match="delete the whole checkpoint"):
        states.load(7)


def test_fewer_than_two_states_could_not_replay(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        EngineStateFiles(tmp_path, keep=1)
