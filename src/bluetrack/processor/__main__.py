"""``python -m bluetrack.processor``: what `bluetrack up` starts."""

from __future__ import annotations

import sys

from bluetrack.processor.commands import run

if __name__ == "__main__":
    sys.exit(run())
