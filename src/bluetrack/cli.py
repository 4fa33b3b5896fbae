"""The `bluetrack` command: subcommands registered by the modules in ``COMMAND_MODULES``.

Each module has ``register(subparsers) -> None`` and adds its subcommands with
``parser.set_defaults(func=handler)``; a handler takes the parsed ``argparse.Namespace`` and
returns an exit code (``None`` counts as 0). A ``BlueTrackError`` becomes one line on stderr
and exit code 1, so users never see a traceback for an expected failure.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bluetrack.config import get_settings
from bluetrack.errors import BlueTrackError

COMMAND_MODULES: list[str] = [
    "bluetrack.stack.commands",
    "bluetrack.client.commands",
    "bluetrack.simulate.commands",
    "bluetrack.server.commands",
    "bluetrack.catalogue.commands",
    "bluetrack.processor.commands",
]


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bluetrack", description="Real-time music listening with live genre charts."
    )
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING... (default: BLUETRACK_LOG_LEVEL)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES if modules is None else modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=(args.log_level or get_settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = args.func(args)
    except BlueTrackError as exc:
        print(f"bluetrack {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
