"""`bluetrack up | down | status | topics`."""

from __future__ import annotations

import argparse
from typing import Any

from bluetrack.config import get_settings
from bluetrack.stack import lifecycle


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    up = subparsers.add_parser("up", help="start the local stack in the background")
    up.set_defaults(func=run_up)
    down = subparsers.add_parser("down", help="stop everything `up` started")
    down.set_defaults(func=run_down)
    status = subparsers.add_parser("status", help="show every part: state, address, pid, log")
    status.set_defaults(func=run_status)
    topics = subparsers.add_parser("topics", help="create missing Kafka topics and list them")
    topics.set_defaults(func=run_topics)


def run_up(args: argparse.Namespace) -> int:
    lifecycle.up(get_settings())
    return 0


def run_down(args: argparse.Namespace) -> int:
    lifecycle.down(get_settings())
    return 0


def run_status(args: argparse.Namespace) -> int:
    for line in status_lines(lifecycle.status(get_settings())):
        print(line)
    return 0


def run_topics(args: argparse.Namespace) -> int:
    from bluetrack.stack.topics import ensure_topics

    for state in ensure_topics(get_settings()):
        kind = "compacted" if state.compacted else ""
        print(f"{state.name:<26} {state.partitions:>3} partitions  {kind:<9}  {state.outcome}")
    return 0


def status_lines(parts: list[lifecycle.PartStatus]) -> list[str]:
    """One aligned line per part: name, state, address, pid, log file."""
    rows = [("PART", "STATE", "ADDRESS", "PID", "LOG")]
    rows += [
        (p.name, p.state, p.address, str(p.pid) if p.pid else "-", str(p.log or "-")) for p in parts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
