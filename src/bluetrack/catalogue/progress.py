"""Progress of an import: a rich bar on a terminal, nothing otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Progress(Protocol):
    def phase(self, description: str, total: int | None) -> None:
        """Start a new phase (the previous one is finished)."""

    def advance(self, amount: int) -> None: ...


class Silent:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


class _Bar:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task: Any = None

    def phase(self, description: str, total: int | None) -> None:
        if self._task is not None:
            task = self._bar.tasks[self._task]
            self._bar.update(self._task, total=task.completed)  # show it as done
        self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)


@contextmanager
def console_progress(enabled: bool | None = None) -> Iterator[Progress]:
    """A bar on stderr when it is a terminal (or when ``enabled`` says so)."""
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield Silent()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichProgress

    columns = (
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with RichProgress(*columns, console=Console(stderr=True)) as bar:
        yield _Bar(bar)
