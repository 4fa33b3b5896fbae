"""``bluetrack server``: run one server process in the foreground (SIGTERM/Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import logging
import signal
from types import FrameType
from typing import Any

from bluetrack.config import Settings, get_settings
from bluetrack.server.runner import Server


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "server",
        help="run the BlueTrack server (accounts, sessions, songs, play verification)",
        description="Run one server process. Start several to share the load: they join "
        "one consumer group and share one key.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="request worker threads (BLUETRACK_SERVER_WORKERS)",
    )
    parser.add_argument(
        "--bcrypt-cost",
        type=int,
        default=None,
        help="bcrypt cost for new passwords (BLUETRACK_BCRYPT_COST)",
    )
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    updates = {"server_workers": args.workers, "bcrypt_cost": args.bcrypt_cost}
    settings = get_settings().model_copy(update={k: v for k, v in updates.items() if v is not None})
    return serve(settings)


def serve(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    server = Server(settings)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        server.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except Exception:
        # Usually MongoDB or Kafka not reachable yet; the log says which, `up` shows the log.
        logging.getLogger(__name__).exception("the server could not start")
        server.stop()
        return 1
    server.wait()
    server.stop()
    return 0
