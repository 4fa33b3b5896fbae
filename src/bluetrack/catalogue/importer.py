"""Importing a catalogue into the store: two passes over the source, writes in batches.

1. The census reads every row and keeps only small facts per track (genres, popularity,
   first line): see ``census``.
2. The second pass reads the source again, parses each track's first row in full, merges in
   the census facts, and streams the tracks to the ``CatalogueWriter``; the genre shelves
   (from the census alone) follow. The writer writes only what differs from the store, so a
   second import of the same source writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pymongo.database import Database

from bluetrack.catalogue.census import PROGRESS_EVERY, Census, take_census
from bluetrack.catalogue.exceptions import CatalogueSourceError
from bluetrack.catalogue.progress import Progress, Silent, console_progress
from bluetrack.catalogue.report import ImportReport
from bluetrack.catalogue.rows import RowIssue, RowParser
from bluetrack.catalogue.sources import CsvSource, GeneratedSource, RowSource
from bluetrack.config import PROJECT_ROOT, Settings
from bluetrack.store.database import connected
from bluetrack.store.songs import CatalogueWriter, SongRepository, Track

log = logging.getLogger(__name__)

DEFAULT_CSV = PROJECT_ROOT / "data" / "spotify_tracks.csv"


def import_catalogue(
    db: Database[Any],
    source: RowSource,
    *,
    progress: Progress | None = None,
    batch_size: int = 5000,
) -> ImportReport:
    """Make the store's catalogue exactly ``source``; idempotent."""
    began = time.monotonic()
    progress = progress or Silent()
    progress.phase("reading", None)
    census = take_census(source, progress.advance)
    shelves = census.shelves()
    progress.phase("comparing with store", None)
    writer = CatalogueWriter(db, batch_size)
    progress.phase("writing", len(census.groups))
    issues = list(census.issues)
    for track in stream_tracks(source, census, issues, progress):
        writer.put_track(track)
    progress.phase("writing shelves", None)
    songs = writer.finish(shelves, len(census.groups))
    return ImportReport(
        source=source.label,
        rows_read=census.rows_read,
        rows_merged=census.rows_merged,
        tracks=len(census.groups),
        tracks_written=songs.written,
        tracks_unchanged=songs.unchanged,
        tracks_removed=songs.removed,
        genres=len(census.genres),
        shelved=sum(len(ids) for ids in shelves.values()),
        issues=tuple(sorted(issues, key=lambda issue: issue.line)),
        seconds=time.monotonic() - began,
    )


def stream_tracks(
    source: RowSource,
    census: Census,
    issues: list[RowIssue],
    progress: Progress | None = None,
) -> Iterator[Track]:
    """Pass two: each track once, from its first row, with the census's merged facts.

    The issues of the parsed rows (repairs) are appended to ``issues``.
    """
    progress = progress or Silent()
    done = 0
    with source.open() as table:
        parser = RowParser(table.header)
        id_column = parser.id_column
        for line, fields in table.records:
            group = (
                census.groups.get(fields[id_column].strip()) if id_column < len(fields) else None
            )
            if group is None or group.first_line != line:
                continue
            row, row_issues = parser.parse(line, fields)
            if row is None:
                raise CatalogueSourceError(
                    f"{source.label} changed during the import (line {line})"
                )
            issues.extend(row_issues)
            yield Track(
                track_id=row.track_id,
                name=row.name,
                artists=row.artists,
                album=row.album,
                duration_ms=row.duration_ms,
                explicit=row.explicit,
                popularity=group.popularity,
                genres=tuple(sorted(group.genres)),
                features=row.features,
            )
            done += 1
            if done % PROGRESS_EVERY == 0:
                progress.advance(PROGRESS_EVERY)
    progress.advance(done % PROGRESS_EVERY)


def default_source(settings: Settings) -> RowSource:
    """The configured CSV, else ``data/spotify_tracks.csv`` in the repository, else generated."""
    configured = settings.catalogue_csv
    if configured is not None:
        if configured.is_file():
            return CsvSource(configured)
        log.warning("catalogue_csv %s does not exist: looking further", configured)
    if DEFAULT_CSV.is_file():
        return CsvSource(DEFAULT_CSV)
    return GeneratedSource(settings.catalogue_seed, settings.catalogue_generated_per_genre)


def ensure_catalogue(settings: Settings) -> ImportReport | None:
    """Import the default source if the store has no songs; None if it already had some."""
    with connected(settings) as db:
        if SongRepository(db).has_songs():
            return None
        source = default_source(settings)
        log.info("the store has no songs: importing %s", source.label)
        with console_progress() as progress:
            return import_catalogue(db, source, progress=progress)


def source_for(settings: Settings, csv: Path | None, generate: bool, seed: int | None) -> RowSource:
    """The source a command line asks for (``--csv``, ``--generate``, ``--seed``)."""
    if csv is not None:
        return CsvSource(csv)
    if generate or seed is not None:
        chosen = settings.catalogue_seed if seed is None else seed
        return GeneratedSource(chosen, settings.catalogue_generated_per_genre)
    return default_source(settings)
