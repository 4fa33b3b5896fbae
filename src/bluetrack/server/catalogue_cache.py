"""The song catalogue held in server memory: random shelves and play checks without I/O.

``songs_update`` must answer in milliseconds and play verification must never ask the
store per event, but on FerretDB every catalogue query is a scan of a collection of ~100k
documents. So the server reads the ``songs`` collection ONCE at start (the catalogue
changes only by an explicit import, which the server notices, see ``catalogue_version``)
and serves from here.

Shelves follow ``store.songs`` exactly: the same ``pick_slots`` (uniform over genres that
have playable tracks, then over each genre's playable tracks in track-id order).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pymongo.database import Database

from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.server.context import TrackFacts
from bluetrack.store.songs import CATALOGUE, SONGS, SUMMARY_ID, pick_slots, summary_from_song

log = logging.getLogger(__name__)

_SUMMARY_FIELDS = {"name": 1, "artists": 1, "album": 1, "duration_ms": 1, "genres": 1}


def catalogue_version(db: Database[Any]) -> dict[str, Any] | None:
    """The import's summary (track and genre counts), written last by every import: when
    it differs from the loaded one, the catalogue was re-imported. One tiny read."""
    summary = db[CATALOGUE].find_one({"_id": SUMMARY_ID})
    return {k: v for k, v in summary.items() if k != "_id"} if summary else None


class CatalogueCache:
    version: dict[str, Any] | None = None  # the import summary it was loaded at

    def __init__(self, tracks: Iterable[TrackSummary]) -> None:
        playable = {t.track_id: t for t in tracks if t.duration_ms > 0 and t.name}
        # Each genre's tracks in track-id order, each track's JSON encoded once: a songs
        # reply is then mostly a join of bytes (~25 MB for the 90k-track Spotify catalogue,
        # a fifth of keeping the models).
        self._shelves: dict[str, list[bytes]] = {}
        for track_id in sorted(playable):
            encoded = playable[track_id].model_dump_json().encode()
            for genre in playable[track_id].genres:
                self._shelves.setdefault(genre, []).append(encoded)
        self._counts = {genre: len(tracks) for genre, tracks in self._shelves.items()}
        self._genre_json = {genre: json.dumps(genre).encode() for genre in self._shelves}
        self._facts = {
            t.track_id: TrackFacts(t.duration_ms, frozenset(t.genres)) for t in playable.values()
        }

    @classmethod
    def from_store(cls, db: Database[Any]) -> CatalogueCache:
        began = time.monotonic()
        version = catalogue_version(db)  # read first: an import finishing meanwhile shows later
        cache = cls(_summaries(db[SONGS].find({}, _SUMMARY_FIELDS)))
        cache.version = version
        log.info(
            "catalogue loaded: %d playable tracks in %d genres (%.1f s)",
            len(cache._facts),
            len(cache._counts),
            time.monotonic() - began,
        )
        return cache

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> list[Shelf]:
        """As models (the SongSource protocol); the server itself uses ``shelf_fragments``."""
        return [
            Shelf(
                genre=genre,
                tracks=[TrackSummary.model_validate_json(self._shelves[genre][n]) for n in numbers],
            )
            for genre, numbers in pick_slots(self._counts, n_genres, per_genre, rng)
        ]

    def shelf_fragments(self, n_genres: int, per_genre: int, rng: random.Random) -> list[bytes]:
        """The JSON of each shelf ``random_shelves`` would give, from pre-encoded tracks."""
        return [
            b'{"genre":'
            + self._genre_json[genre]
            + b',"tracks":['
            + b",".join([self._shelves[genre][n] for n in numbers])
            + b"]}"
            for genre, numbers in pick_slots(self._counts, n_genres, per_genre, rng)
        ]

    def track_index(self) -> Mapping[str, TrackFacts]:
        return self._facts

    def __len__(self) -> int:
        return len(self._facts)


def _summaries(docs: Iterable[Mapping[str, Any]]) -> Iterable[TrackSummary]:
    """Stored songs as protocol summaries; a document the protocol refuses is skipped."""
    for doc in docs:
        try:
            yield summary_from_song(doc)
        except (KeyError, TypeError, ValidationError) as exc:
            log.warning("catalogue track %r skipped: %s", doc.get("_id"), exc)
