"""The song catalogue held in server memory: random shelves and play checks without I/O.

``songs_update`` must answer in milliseconds and play verification must never ask the
store per event, but on FerretDB every catalogue query is a scan of a collection of ~100k
documents. So the server reads the ``songs`` collection ONCE at start (the catalogue
changes only by an explicit import; restart the servers after one) and serves from here.

Shelves follow ``store.songs`` exactly: the same ``pick_slots`` (uniform over genres that
have playable tracks, then over each genre's playable tracks in track-id order).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pymongo.database import Database

from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.server.context import TrackFacts
from bluetrack.store.songs import SONGS, pick_slots

log = logging.getLogger(__name__)

# (track_id, name, artists, album, duration_ms, genres): a tuple is a third of the memory of
# a TrackSummary, and a summary is rebuilt from it in a microsecond.
_Compact = tuple[str, str, tuple[str, ...], str, int, tuple[str, ...]]
_SUMMARY_FIELDS = {"name": 1, "artists": 1, "album": 1, "duration_ms": 1, "genres": 1}


class CatalogueCache:
    def __init__(self, tracks: Iterable[TrackSummary]) -> None:
        by_id: dict[str, _Compact] = {}
        for t in tracks:
            if t.duration_ms > 0 and t.name:  # what the catalogue calls playable
                by_id[t.track_id] = (
                    t.track_id, t.name, tuple(t.artists), t.album, t.duration_ms, tuple(t.genres)
                )  # fmt: skip
        self._shelves: dict[str, list[_Compact]] = {}
        for track_id in sorted(by_id):
            for genre in by_id[track_id][5]:
                self._shelves.setdefault(genre, []).append(by_id[track_id])
        self._counts = {genre: len(tracks) for genre, tracks in self._shelves.items()}
        self._facts = {t[0]: TrackFacts(t[4], frozenset(t[5])) for t in by_id.values()}

    @classmethod
    def from_store(cls, db: Database[Any]) -> CatalogueCache:
        began = time.monotonic()
        cache = cls(_summaries(db[SONGS].find({}, _SUMMARY_FIELDS)))
        log.info(
            "catalogue loaded: %d playable tracks in %d genres (%.1f s)",
            len(cache._facts),
            len(cache._counts),
            time.monotonic() - began,
        )
        return cache

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> list[Shelf]:
        return [
            Shelf.model_construct(
                genre=genre, tracks=[_summary(self._shelves[genre][n]) for n in numbers]
            )
            for genre, numbers in pick_slots(self._counts, n_genres, per_genre, rng)
        ]

    def track_index(self) -> Mapping[str, TrackFacts]:
        return self._facts

    def __len__(self) -> int:
        return len(self._facts)


def _summary(track: _Compact) -> TrackSummary:
    # Validated when loaded; building the model again per request would cost 10x more.
    return TrackSummary.model_construct(
        track_id=track[0],
        name=track[1],
        artists=list(track[2]),
        album=track[3],
        duration_ms=track[4],
        genres=list(track[5]),
    )


def _summaries(docs: Iterable[Mapping[str, Any]]) -> Iterable[TrackSummary]:
    """Stored songs as protocol summaries; a document the protocol refuses is skipped."""
    for doc in docs:
        try:
            yield TrackSummary(
                track_id=doc["_id"],
                name=doc["name"],
                artists=list(doc["artists"]),
                album=doc["album"],
                duration_ms=doc["duration_ms"],
                genres=list(doc["genres"]),
            )
        except (KeyError, TypeError, ValidationError) as exc:
            log.warning("catalogue track %r skipped: %s", doc.get("_id"), exc)
