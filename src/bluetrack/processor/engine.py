"""The chart engine the Spark job steps once per micro-batch.

PRELIMINARY: this first version publishes the API and delegates to the pure-Python
reference, row by row; the vectorised engine replaces the body with the same signatures.
"""

from __future__ import annotations

import pickle

import pandas as pd

from bluetrack.core.charts import ChartSnapshot, PlayRecord, ReferenceCharts
from bluetrack.core.rules import Rules

# The batch the engine reads: one row per accepted play event.
BATCH_DTYPES: dict[str, str] = {
    "event_id": "object",
    "user_id": "object",
    "track_id": "object",
    "operation_type": "object",
    "start_time_ms": "int64",
    "event_time_ms": "int64",
    "duration_ms": "int64",
    "genre": "object",
}


class ChartEngine:
    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or Rules()
        self._reference = ReferenceCharts(self.rules)

    def step(self, batch: pd.DataFrame, batch_id: int) -> ChartSnapshot:
        records = [PlayRecord(**row) for row in batch[list(BATCH_DTYPES)].to_dict("records")]
        return self._reference.step(records, batch_id)

    def state_rows(self) -> int:
        return 0

    def to_bytes(self) -> bytes:
        return pickle.dumps(self._reference)

    @classmethod
    def from_bytes(cls, data: bytes) -> ChartEngine:
        engine = cls.__new__(cls)
        engine._reference = pickle.loads(data)  # preliminary: our own checkpoint files
        engine.rules = engine._reference.rules
        return engine
