"""`python -m bluetrack.client`: the same as `bluetrack client`."""

import sys

from bluetrack.client.app import run_client

sys.exit(run_client())
