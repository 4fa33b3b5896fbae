"""What a run has done so far, and showing it: a live rich table on a terminal, log lines else."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

log = logging.getLogger(__name__)

RATE_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    elapsed_s: float
    listeners: int
    joined: int
    failed: int
    finished: int
    sent: int
    accepted: int
    rejected: int
    sent_per_s: float
    accepted_per_s: float
    rejected_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """Every event sent has come back accepted or rejected."""
        return self.accepted + self.rejected >= self.sent


class _RateMeter:
    """Events per second over the last few seconds, from (time, total) samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, now: float, total: int) -> float:
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()
        then, before = self._samples[0]
        return (total - before) / (now - then) if now > then else 0.0


class Tally:
    """Thread-safe counters the runner and the outcome reader update."""

    def __init__(self, listeners: int) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.listeners = listeners
        self._joined = self._failed = self._finished = 0
        self._sent = self._accepted = 0
        self._rejected: Counter[str] = Counter()
        self._sent_rate, self._accepted_rate = _RateMeter(), _RateMeter()

    def joined(self) -> None:
        with self._lock:
            self._joined += 1

    def failed(self) -> None:
        with self._lock:
            self._failed += 1

    def finished(self) -> None:
        with self._lock:
            self._finished += 1

    def sent(self) -> None:
        with self._lock:
            self._sent += 1

    def accepted(self) -> None:
        with self._lock:
            self._accepted += 1

    def rejected(self, code: str) -> None:
        with self._lock:
            self._rejected[code] += 1

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        with self._lock:
            return Snapshot(
                elapsed_s=now - self._started,
                listeners=self.listeners,
                joined=self._joined,
                failed=self._failed,
                finished=self._finished,
                sent=self._sent,
                accepted=self._accepted,
                rejected=self._rejected.total(),
                sent_per_s=self._sent_rate.rate(now, self._sent),
                accepted_per_s=self._accepted_rate.rate(now, self._accepted),
                rejected_by_code=dict(self._rejected),
            )


class Display(Protocol):
    def refresh(self) -> None: ...

    def __enter__(self) -> Display: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def summary_line(s: Snapshot) -> str:
    line = (
        f"{s.elapsed_s:6.0f}s  listeners {s.joined}/{s.listeners} joined, {s.finished} done"
        f"{f', {s.failed} failed' if s.failed else ''}  |  sent {s.sent} ({s.sent_per_s:.1f}/s)"
        f"  accepted {s.accepted} ({s.accepted_per_s:.1f}/s)  rejected {s.rejected}"
    )
    if s.rejected_by_code:
        line += " [" + ", ".join(f"{k}: {v}" for k, v in sorted(s.rejected_by_code.items())) + "]"
    return line


def progress_table(s: Snapshot, title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("total", justify="right")
    table.add_column("per second", justify="right")
    table.add_row("listeners joined", f"{s.joined} / {s.listeners}", "")
    table.add_row("listeners done", str(s.finished), "")
    if s.failed:
        table.add_row("listeners failed", f"[red]{s.failed}[/red]", "")
    table.add_row("events sent", str(s.sent), f"{s.sent_per_s:.1f}")
    table.add_row("events accepted", str(s.accepted), f"{s.accepted_per_s:.1f}")
    table.add_row("events rejected", str(s.rejected), "")
    for code, count in sorted(s.rejected_by_code.items()):
        table.add_row(f"  {code}", str(count), "")
    table.caption = f"{s.elapsed_s:.0f} s elapsed"
    return table


class LiveDisplay:
    """A rich table redrawn in place, for a terminal."""

    def __init__(self, tally: Tally, title: str, console: Console | None = None) -> None:
        self._tally = tally
        self._title = title
        self._live = Live(console=console, auto_refresh=False, transient=False)

    def refresh(self) -> None:
        self._live.update(progress_table(self._tally.snapshot(), self._title), refresh=True)

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        self.refresh()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.refresh()
        self._live.__exit__(kind, exc, tb)


class LogDisplay:
    """One log line every ``every_s`` seconds, for logs and pipes."""

    def __init__(self, tally: Tally, every_s: float = 10.0) -> None:
        self._tally = tally
        self._every_s = every_s
        self._last = 0.0

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            log.info("%s", summary_line(self._tally.snapshot()))

    def __enter__(self) -> LogDisplay:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        log.info("%s", summary_line(self._tally.snapshot()))
