"""`python -m bluetrack.simulate ...` is `bluetrack simulate ...`."""

from __future__ import annotations

import sys

from bluetrack.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate", *sys.argv[1:]]))
