"""`bluetrack import-catalogue [--csv PATH | --generate] [--seed N] [--per-genre N]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bluetrack.config import get_settings


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "import-catalogue",
        help="import the song catalogue (the Spotify CSV, or a generated one)",
        description=(
            "Make the store's catalogue exactly the given source; a second run with the same "
            "source writes nothing. Without --csv or --generate: BLUETRACK_CATALOGUE_CSV, else "
            "data/spotify_tracks.csv, else a generated catalogue."
        ),
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--csv", type=Path, help="a Spotify tracks CSV (Kaggle's dataset.csv)")
    which.add_argument("--generate", action="store_true", help="an invented catalogue")
    parser.add_argument(
        "--seed", type=int, help="seed of the generated catalogue (implies --generate)"
    )
    parser.add_argument("--per-genre", type=int, help="rows per genre of the generated catalogue")
    parser.add_argument(
        "--max-issues", type=int, default=50, help="row issues to list (%(default)s)"
    )
    parser.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from bluetrack.catalogue.exceptions import CatalogueError
    from bluetrack.catalogue.importer import import_catalogue, source_for
    from bluetrack.catalogue.progress import console_progress
    from bluetrack.store.database import connected

    settings = get_settings()
    if args.per_genre is not None:
        if args.csv is not None:
            raise CatalogueError("--per-genre applies to a generated catalogue, not to --csv")
        settings = settings.model_copy(update={"catalogue_generated_per_genre": args.per_genre})
    source = source_for(settings, args.csv, args.generate or args.per_genre is not None, args.seed)
    with connected(settings) as db, console_progress() as progress:
        report = import_catalogue(db, source, progress=progress)
    for line in report.lines(args.max_issues):
        print(line)
    return 0
