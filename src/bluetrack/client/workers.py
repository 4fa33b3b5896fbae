"""QObject workers in their own QThreads: every gateway call (Kafka I/O) happens here,
never on the UI thread, and results come back as queued signals."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.client.gateway import ChartSource, Gateway

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_MS = 15_000  # a request in flight ends within request_timeout_s


@dataclass(frozen=True, slots=True, eq=False)
class Job:
    """One gateway call and what to do with its outcome (run back on the UI thread)."""

    name: str
    call: Callable[[Gateway], Any]
    on_done: Callable[[Any], None] | None = None
    on_failed: Callable[[GatewayError], None] | None = None


def _as_gateway_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    # A bug or an unexpected library error must not kill the worker; the GUI says so.
    log.exception("gateway call failed unexpectedly")
    return GatewayError(FailureKind.UNAVAILABLE, f"{type(exc).__name__}: {exc}")


class GatewayWorker(QObject):
    """Runs jobs one after another on its thread, in the order they were submitted."""

    finished = Signal(object, object)  # Job, result
    failed = Signal(object, object)  # Job, GatewayError

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self._gateway = gateway

    @Slot(object)
    def run(self, job: Job) -> None:
        try:
            result = job.call(self._gateway)
        except Exception as exc:
            self.failed.emit(job, _as_gateway_error(exc))
            return
        self.finished.emit(job, result)

    @Slot()
    def shutdown(self) -> None:
        try:
            self._gateway.close()
        except Exception:
            log.exception("closing the gateway failed")
        thread = self.thread()
        if thread is not None:
            thread.quit()


class RequestRunner(QObject):
    """The UI thread's handle on the gateway worker: submit a job, get a callback.

    Jobs run one at a time, in order. A watchdog gives each job ``deadline_s``: the bus
    already times requests out, but should a call hang anyway, the job fails with a
    timeout, the stuck thread is left to finish on its own, and a fresh one takes over.
    """

    _dispatch = Signal(object)
    succeeded = Signal(str)  # job name
    failed = Signal(str, object)  # job name, GatewayError

    def __init__(self, gateway: Gateway, deadline_s: float, parent: QObject | None = None):
        super().__init__(parent)
        self._gateway = gateway
        self._deadline_ms = round(deadline_s * 1000)
        self._queue: deque[Job] = deque()
        self._current: Job | None = None
        self._abandoned: list[tuple[QThread, GatewayWorker]] = []
        self._watchdog = QTimer(self, singleShot=True)
        self._watchdog.timeout.connect(self._overdue)
        self._thread, self._worker = self._spawn()

    def _spawn(self) -> tuple[QThread, GatewayWorker]:
        thread = QThread()
        thread.setObjectName("bluetrack-gateway")
        worker = GatewayWorker(self._gateway)
        worker.moveToThread(thread)
        self._dispatch.connect(worker.run)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        thread.start()
        return thread, worker

    @property
    def pending(self) -> int:
        return len(self._queue) + (self._current is not None)

    def submit(
        self,
        name: str,
        call: Callable[[Gateway], Any],
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[GatewayError], None] | None = None,
    ) -> None:
        self._queue.append(Job(name, call, on_done, on_failed))
        self._next()

    def _next(self) -> None:
        if self._current is not None or not self._queue:
            return
        self._current = self._queue.popleft()
        self._watchdog.start(self._deadline_ms)
        self._dispatch.emit(self._current)

    def stop(self) -> None:
        """Close the gateway on its thread and wait (briefly) for every thread to end."""
        self._watchdog.stop()
        self._queue.clear()
        QMetaObject.invokeMethod(self._worker, "shutdown", Qt.ConnectionType.QueuedConnection)
        # No quit() here: it could end the loop before shutdown ran; shutdown quits itself.
        for thread in [self._thread, *(t for t, _ in self._abandoned)]:
            if not thread.wait(SHUTDOWN_WAIT_MS):
                log.warning("a gateway thread did not stop in time")

    def _overdue(self) -> None:
        job, self._current = self._current, None
        if job is None:
            return
        log.warning("gateway call %s hung past its deadline; replacing the worker", job.name)
        self._dispatch.disconnect(self._worker.run)
        self._worker.finished.disconnect(self._on_finished)
        self._worker.failed.disconnect(self._on_failed)
        self._thread.quit()  # it ends once the hung call returns
        self._abandoned.append((self._thread, self._worker))
        self._thread, self._worker = self._spawn()
        seconds = self._deadline_ms // 1000
        self._fail(job, GatewayError(FailureKind.TIMEOUT, f"no answer within {seconds} s"))

    def _settle(self, job: Job) -> bool:
        """True when ``job`` is the one we wait for (not one the watchdog gave up on)."""
        if job is not self._current:
            return False
        self._current = None
        self._watchdog.stop()
        return True

    @Slot(object, object)
    def _on_finished(self, job: Job, result: object) -> None:
        if not self._settle(job):
            return
        if job.on_done is not None:
            job.on_done(result)
        self.succeeded.emit(job.name)
        self._next()

    @Slot(object, object)
    def _on_failed(self, job: Job, error: GatewayError) -> None:
        if self._settle(job):
            self._fail(job, error)

    def _fail(self, job: Job, error: GatewayError) -> None:
        if job.on_failed is not None:
            job.on_failed(error)
        self.failed.emit(job.name, error)
        self._next()


class ChartWorker(QObject):
    """Polls the chart feed in a loop; reopens it by itself after the broker went away."""

    chart_arrived = Signal(object)  # ChartMessage
    link_changed = Signal(object)  # GatewayError, or None when the feed is live again

    def __init__(self, gateway: Gateway, poll_s: float = 0.5, retry_s: float = 3.0) -> None:
        super().__init__()
        self._gateway = gateway
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Thread-safe: the loop ends within one poll."""
        self._stop.set()

    @Slot()
    def run(self) -> None:
        while not self._stop.is_set():
            feed = self._open()
            if feed is None:
                self._stop.wait(self._retry_s)
                continue
            self._follow(feed)
        thread = self.thread()
        if thread is not None:
            thread.quit()

    def _open(self) -> ChartSource | None:
        try:
            feed = self._gateway.open_chart_feed()
        except Exception as exc:
            self.link_changed.emit(_as_gateway_error(exc))
            return None
        return feed

    def _follow(self, feed: ChartSource) -> None:
        live = False
        try:
            while not self._stop.is_set():
                chart = feed.poll(self._poll_s)
                if not live:  # the feed connects lazily: only a poll that worked proves it
                    live = True
                    self.link_changed.emit(None)
                if chart is not None:
                    self.chart_arrived.emit(chart)
        except Exception as exc:
            self.link_changed.emit(_as_gateway_error(exc))
            self._stop.wait(self._retry_s)
        finally:
            try:
                feed.close()
            except Exception:
                log.exception("closing the chart feed failed")


class ChartRunner(QObject):
    """Owns the chart thread; started at login, stopped at logout."""

    chart_arrived = Signal(object)
    link_changed = Signal(object)

    def __init__(
        self, gateway: Gateway, parent: QObject | None = None, *, retry_s: float = 3.0
    ) -> None:
        super().__init__(parent)
        self._gateway = gateway
        self._retry_s = retry_s
        self._thread: QThread | None = None
        self._worker: ChartWorker | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = QThread()
        self._thread.setObjectName("bluetrack-charts")
        self._worker = ChartWorker(self._gateway, retry_s=self._retry_s)
        self._worker.moveToThread(self._thread)
        self._worker.chart_arrived.connect(self.chart_arrived)
        self._worker.link_changed.connect(self.link_changed)
        self._thread.started.connect(self._worker.run)
        self._thread.start()

    def stop(self) -> None:
        thread, worker = self._thread, self._worker
        self._thread = self._worker = None
        if thread is None or worker is None:
            return
        worker.request_stop()
        thread.quit()
        if not thread.wait(SHUTDOWN_WAIT_MS):
            log.warning("the chart thread did not stop in time")
