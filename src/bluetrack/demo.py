"""`bluetrack demo`: a living system to look at, for `make run`.

A simulation runs in the background (a child process, logging to ``<home>/logs``), and the
desktop client opens in front of it, logged in as the ``demo`` account (through the client's
own "remember me" file, only if it remembers no session of its own) so the shelves and the
moving chart are there at once. Without a display the client is skipped and the chart is
printed here, redrawn as each new one arrives, until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.charts import ChartFeed
from bluetrack.client.session_store import SessionStore
from bluetrack.config import Settings, get_settings
from bluetrack.errors import BlueTrackError
from bluetrack.protocol.charts import TOP_N, ChartMessage, Ranking
from bluetrack.simulate.accounts import register_and_login, throwaway_account
from bluetrack.simulate.commands import stop_on_signals

SIM_STOP_TIMEOUT_S = 30.0  # listeners stop their plays and log out before the child exits
DEMO_ACCOUNT = throwaway_account("demo")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def simulation_argv(args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "bluetrack.simulate", "--plain"]
    argv += ["--listeners", str(args.listeners), "--rate", str(args.rate)]
    argv += ["--duration", str(args.duration), "--seed", str(args.seed)]
    argv += ["--speed", str(args.speed)]
    if args.sessions is not None:
        argv += ["--sessions", str(args.sessions)]
    return argv


def start_simulation(args: argparse.Namespace, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            simulation_argv(args),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_simulation(simulation: subprocess.Popen[bytes]) -> int:
    """Ask for a clean stop (plays stopped, listeners logged out), then insist."""
    if simulation.poll() is None:
        simulation.terminate()
        try:
            simulation.wait(SIM_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            simulation.kill()
    return simulation.wait()


def _tail(path: Path, lines: int = 5) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def sign_in_desktop_client(settings: Settings) -> str:
    """Log the client in as the demo account, unless it already remembers a session."""
    store = SessionStore(settings.config_dir)
    if store.load() is not None:
        return "The client opens with the session it remembers."
    client = BlueTrackClient(settings)
    try:
        session = register_and_login(client, DEMO_ACCOUNT)
    except BlueTrackError as exc:
        return f"Log in or sign up in the client (the demo account could not log in: {exc})."
    finally:
        client.close()
    store.save(session.to_json())
    return (
        f"The client opens logged in as {DEMO_ACCOUNT.username!r}"
        f" (password {DEMO_ACCOUNT.password}); play along or just watch the chart."
    )


# --- the chart in a terminal ------------------------------------------------------------------
def ranking_table(title: str, ranking: Ranking) -> Table:
    table = Table(title=title, min_width=26)
    table.add_column("#", justify="right", style="dim")
    table.add_column("genre")
    table.add_column("count", justify="right")
    for place, entry in enumerate(ranking.entries, start=1):
        table.add_row(str(place), entry.genre, str(entry.count))
    for place in range(len(ranking.entries) + 1, TOP_N + 1):
        table.add_row(str(place), "", "")
    return table


def chart_view(chart: ChartMessage | None, window_s: int) -> Group | Text:
    if chart is None:
        return Text("waiting for the first chart from the processor...", style="dim")
    side_by_side = Table.grid(padding=(0, 2))
    side_by_side.add_row(
        ranking_table("Listening now", chart.now),
        ranking_table(f"Trending ({window_s // 60} min)", chart.trending),
        ranking_table("All time", chart.all_time),
    )
    caption = Text(
        f"batch {chart.batch_id} at {chart.chart_time:%H:%M:%S} UTC,"
        f" {chart.input_rows} new events; Ctrl-C to stop",
        style="dim",
    )
    return Group(side_by_side, caption)


def chart_line(chart: ChartMessage) -> str:
    def top(ranking: Ranking) -> str:
        return ", ".join(f"{e.genre} {e.count}" for e in ranking.entries) or "-"

    return (
        f"batch {chart.batch_id}: now [{top(chart.now)}]"
        f"  trending [{top(chart.trending)}]  all time [{top(chart.all_time)}]"
    )


def print_chart_line(console: Console, chart: ChartMessage) -> None:
    # markup=False: rich would otherwise take "[rock 3]" for a style tag and swallow it.
    console.print(chart_line(chart), soft_wrap=True, markup=False, highlight=False)


def watch_charts(
    settings: Settings,
    stop: threading.Event,
    until: float,
    simulation: subprocess.Popen[bytes],
    out: IO[str] | None = None,
) -> None:
    """Show each new chart until ``stop``, the monotonic deadline, or the simulation ends."""
    console = Console(file=out)
    feed = ChartFeed(settings)
    live = Live(chart_view(None, settings.window_s), console=console, auto_refresh=False)
    try:
        with live if console.is_terminal else contextlib.nullcontext():
            while not stop.is_set() and time.monotonic() < until and simulation.poll() is None:
                chart = feed.poll(1.0)
                if chart is None:
                    continue
                if console.is_terminal:
                    live.update(chart_view(chart, settings.window_s), refresh=True)
                else:
                    print_chart_line(console, chart)
    finally:
        feed.close()


# --- the command --------------------------------------------------------------------------------
def run_demo(args: argparse.Namespace, argv_client: Sequence[str] | None = None) -> int:
    settings = get_settings()
    log_path = settings.home / "logs" / "demo-simulation.log"
    stop = threading.Event()
    simulation = start_simulation(args, log_path)
    print(
        f"Simulating {args.listeners} listeners (seed {args.seed}, speed x{args.speed:g});"
        f" their log: {log_path}"
    )
    try:
        with stop_on_signals(stop):
            if has_display() and not args.no_client:
                print(sign_in_desktop_client(settings), "Close the window to stop.")
                client = argv_client or [sys.executable, "-m", "bluetrack.cli", "client"]
                subprocess.run(client, check=False)
            else:
                print("No display ($DISPLAY / $WAYLAND_DISPLAY): the client is skipped;")
                print("the live chart follows here.")
                watch_charts(settings, stop, time.monotonic() + args.duration, simulation)
    finally:
        ended_early = simulation.poll() is not None
        code = stop_simulation(simulation)
    if ended_early and code != 0:
        print(f"The simulation stopped (exit code {code}):\n{_tail(log_path)}", file=sys.stderr)
        return 1
    return 0
