"""Errors of the MongoDB store, with the driver's error code kept when there is one."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError


class StoreError(BlueTrackError):
    """A store operation failed; ``code`` is MongoDB's error code when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StoreUnavailable(StoreError):
    """No MongoDB (or FerretDB) server answered within the timeout."""
