"""``python -m bluetrack.server``: what `bluetrack up` starts."""

from __future__ import annotations

import sys

from bluetrack.server.commands import serve

if __name__ == "__main__":
    sys.exit(serve())
