"""Errors of the load simulator."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError


class SimulationError(BlueTrackError):
    """The simulation could not run, e.g. no listener could sign in at all."""
