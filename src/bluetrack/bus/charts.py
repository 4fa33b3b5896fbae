"""Following the live charts: start at the latest one, drop repeats of a batch id."""

from __future__ import annotations

import logging
from collections import deque

from confluent_kafka import Consumer

from bluetrack.bus.assign import assign_at_end
from bluetrack.bus.kafka import make_consumer
from bluetrack.bus.requests import new_client_id
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.topics import Topic

log = logging.getLogger(__name__)


class ChartFeed:
    def __init__(self, settings: Settings, *, from_latest: bool = True) -> None:
        self._settings = settings
        self._back = 1 if from_latest else 0
        self._consumer: Consumer | None = None
        self._recent: deque[int] = deque(maxlen=256)

    def _ensure_assigned(self) -> Consumer:
        if self._consumer is None:
            consumer = make_consumer(self._settings, f"bt-charts-{new_client_id()}")
            try:
                assign_at_end(
                    consumer, [Topic.TOP_GENRES], self._settings.request_timeout_s, back=self._back
                )
            except Exception:
                consumer.close()
                raise
            self._consumer = consumer
        return self._consumer

    def poll(self, timeout_s: float = 1.0) -> ChartMessage | None:
        msg = self._ensure_assigned().poll(timeout_s)
        if msg is None or msg.error() is not None:
            return None
        try:
            chart = codec.decode(msg.value(), ChartMessage, max_bytes=codec.MAX_REPLY_BYTES)
        except DecodeError as exc:
            log.warning("ignoring an unreadable chart: %s", exc)
            return None
        if chart.batch_id in self._recent:
            return None  # a processor replaying a batch after a restart republishes it
        self._recent.append(chart.batch_id)
        return chart

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
