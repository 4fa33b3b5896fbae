"""The song catalogue: importing the Spotify tracks CSV, or a generated one, into the store.

``ensure_catalogue(settings)`` (called by `bluetrack up`) fills an empty store;
``import_catalogue(db, source)`` makes the store's catalogue exactly ``source`` and is
idempotent; `bluetrack import-catalogue` runs it from the command line.
"""

from __future__ import annotations

from bluetrack.catalogue.exceptions import (
    CatalogueError,
    CatalogueFormatError,
    CatalogueSourceError,
)
from bluetrack.catalogue.genres import GENRES
from bluetrack.catalogue.importer import default_source, ensure_catalogue, import_catalogue
from bluetrack.catalogue.report import ImportReport
from bluetrack.catalogue.rows import RowIssue
from bluetrack.catalogue.sources import CsvSource, GeneratedSource, RowSource

__all__ = [
    "GENRES",
    "CatalogueError",
    "CatalogueFormatError",
    "CatalogueSourceError",
    "CsvSource",
    "GeneratedSource",
    "ImportReport",
    "RowIssue",
    "RowSource",
    "default_source",
    "ensure_catalogue",
    "import_catalogue",
]
