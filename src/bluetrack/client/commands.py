"""`bluetrack client` and `bluetrack screenshots DIR`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bluetrack.client.i18n import LANGUAGES


def register(subparsers: Any) -> None:
    client = subparsers.add_parser("client", help="open the desktop client")
    client.add_argument(
        "--language",
        choices=LANGUAGES,
        help="interface language (default: BLUETRACK_LANGUAGE or the locale)",
    )
    client.set_defaults(func=run_client_command)
    shots = subparsers.add_parser(
        "screenshots", help="write a PNG of every page of the client (offscreen, recorded replies)"
    )
    shots.add_argument("dir", type=Path, help="folder for the PNGs")
    shots.add_argument(
        "--language", choices=(*LANGUAGES, "all"), default="all", help="which translation(s)"
    )
    shots.add_argument(
        "--recording", type=Path, default=None, help="folder of recorded replies to show"
    )
    shots.set_defaults(func=screenshots_command)


def run_client_command(args: argparse.Namespace) -> int:
    from bluetrack.client.app import run_client
    from bluetrack.config import get_settings

    settings = get_settings()
    if args.language:
        settings = settings.model_copy(update={"language": args.language})
    return run_client(settings)


def screenshots_command(args: argparse.Namespace) -> int:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt starts: no display needed
    from bluetrack.client.screenshots import DEFAULT_RECORDING, take_screenshots

    languages = LANGUAGES if args.language == "all" else (args.language,)
    saved = take_screenshots(args.dir, args.recording or DEFAULT_RECORDING, languages)
    for path in saved:
        print(path)
    return 0
