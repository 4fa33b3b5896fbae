"""``bluetrack processor``: run the chart stream processor in the foreground."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bluetrack.config import Settings, get_settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "processor",
        help="run the live genre charts (Spark Structured Streaming)",
        description="Read accepted plays from Kafka, publish a chart on top_genres every "
        "trigger and keep the latest in MongoDB. SIGTERM/Ctrl-C stops it; it resumes from "
        "its checkpoint.",
    )
    parser.add_argument("--master", default=None, help="Spark master (SPARK_MASTER)")
    parser.add_argument(
        "--trigger", type=float, default=None, help="seconds per chart (BLUETRACK_TRIGGER_S)"
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint directory (BLUETRACK_CHECKPOINT_DIR)",
    )
    parser.add_argument(
        "--qualify-rule",
        choices=("spotify", "lastfm"),
        default=None,
        help="when a play counts (BLUETRACK_QUALIFY_RULE)",
    )
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    updates = {
        "spark_master": args.master,
        "trigger_s": args.trigger,
        "checkpoint_dir": args.checkpoint,
        "qualify_rule": args.qualify_rule,
    }
    settings = get_settings().model_copy(update={k: v for k, v in updates.items() if v is not None})
    return run(settings)


def run(settings: Settings | None = None) -> int:
    """Run until SIGTERM/SIGINT; what ``python -m bluetrack.processor`` calls."""
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    # Spark and the engine are imported only when the processor really runs.
    from bluetrack.processor.job import StopFlag, run_processor

    stop = StopFlag()
    stop.install()
    run_processor(settings, stop)
    return 0
