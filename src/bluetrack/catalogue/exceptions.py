"""Errors of the catalogue import: one base under BlueTrackError, one per way it can fail."""

from __future__ import annotations

from bluetrack.errors import BlueTrackError


class CatalogueError(BlueTrackError):
    """The catalogue could not be imported."""


class CatalogueSourceError(CatalogueError):
    """The CSV file is missing or unreadable."""


class CatalogueFormatError(CatalogueError):
    """The file is not a Spotify tracks CSV: its header lacks columns the import needs."""
