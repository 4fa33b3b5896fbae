"""The latest chart, kept in MongoDB so a client that connects later gets it at once.

One document, ``_id: "latest"``, replaced only by a chart of the same or a later batch: a
replayed batch (same id) rewrites an identical chart, an older one never wins.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from bluetrack.protocol.charts import ChartMessage

log = logging.getLogger(__name__)

COLLECTION = "charts"
LATEST_ID = "latest"


class ChartStore:
    def __init__(self, db: Database[Any]) -> None:
        self._charts: Collection[Any] = db[COLLECTION]

    def save_latest(self, chart: ChartMessage) -> bool:
        """Store ``chart`` unless a later batch is already there; True if it was stored."""
        document = chart.model_dump(mode="json")
        try:
            # The filter matches only an older (or equal) batch; if a newer one is stored the
            # filter misses, the upsert tries to insert a second "latest" and the unique _id
            # refuses it: exactly the "never go back" rule, in one round trip.
            self._charts.replace_one(
                {"_id": LATEST_ID, "batch_id": {"$lte": chart.batch_id}},
                {"_id": LATEST_ID, **document},
                upsert=True,
            )
        except DuplicateKeyError:
            log.debug("chart of batch %d is older than the stored one", chart.batch_id)
            return False
        return True

    def latest(self) -> ChartMessage | None:
        document = self._charts.find_one({"_id": LATEST_ID})
        if document is None:
            return None
        document.pop("_id", None)
        return ChartMessage.model_validate(document)
