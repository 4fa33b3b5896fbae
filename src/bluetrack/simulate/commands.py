"""`bluetrack simulate` (virtual listeners) and `bluetrack demo` (a living system to watch)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from bluetrack.config import get_settings
from bluetrack.simulate.progress import Display, LiveDisplay, LogDisplay, Tally, summary_line


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    simulate = subparsers.add_parser(
        "simulate",
        help="virtual listeners playing music through the real protocol",
        description="Virtual listeners sign in, play, skip, pause and log out like people do.",
    )
    add_run_arguments(simulate, listeners=10, duration=60.0, speed=1.0)
    simulate.add_argument(
        "--plain", action="store_true", help="log lines instead of the live table"
    )
    simulate.set_defaults(func=run_simulate)

    demo = subparsers.add_parser(
        "demo",
        help="a background simulation plus the client (or the chart in this terminal)",
        description="Starts a simulation, then the client if a display is available; "
        "otherwise prints the chart here as it changes. Ctrl-C stops everything.",
    )
    add_run_arguments(demo, listeners=50, duration=3600.0, speed=4.0)
    demo.add_argument(
        "--no-client", action="store_true", help="the terminal chart even if there is a display"
    )
    demo.set_defaults(func=run_demo)


def add_run_arguments(
    parser: argparse.ArgumentParser, *, listeners: int, duration: float, speed: float
) -> None:
    parser.add_argument("--listeners", type=int, default=listeners, help="how many (%(default)s)")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="listeners joining per second (%(default)s)"
    )
    parser.add_argument(
        "--duration", type=float, default=duration, help="seconds to run (%(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="the same seed gives the same listeners (%(default)s)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=speed,
        help="compress listening time K-fold; event times stay real (%(default)s)",
    )
    parser.add_argument(
        "--sessions",
        type=Path,
        default=None,
        help="file of saved sessions to reuse (and keep: no logout), for large runs",
    )


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C, SIGTERM or a closed terminal (SIGHUP) asks for a clean stop; a second Ctrl-C
    gives up at once."""

    def ask(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, ask) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_simulate(args: argparse.Namespace) -> int:
    from bluetrack.simulate.runner import RunConfig, Simulation

    config = RunConfig(
        listeners=args.listeners,
        rate=args.rate,
        duration_s=args.duration,
        seed=args.seed,
        speed=args.speed,
        sessions_file=args.sessions,
    )
    tally = Tally(config.listeners)
    simulation = Simulation(get_settings(), config, tally)
    stop = threading.Event()
    live = sys.stdout.isatty() and not args.plain
    display: Display = LiveDisplay(tally, _title(config)) if live else LogDisplay(tally)
    with stop_on_signals(stop), display:
        final = simulation.run(stop, display)
    print(summary_line(final))
    return 0 if final.joined else 1


def _title(config: Any) -> str:
    return (
        f"BlueTrack simulation: {config.listeners} listeners, seed {config.seed},"
        f" speed x{config.speed:g}"
    )


def run_demo(args: argparse.Namespace) -> int:
    from bluetrack.demo import run_demo as demo

    return demo(args)
