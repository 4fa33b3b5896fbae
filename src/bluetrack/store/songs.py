"""The song catalogue in MongoDB: the tracks, the shelves read model, and how both are read.

Collections (all keyed by ``_id`` only, see "Why only ``_id``" below):

* ``songs``: one document per track, ``_id`` = Spotify track id, with its sorted ``genres``,
  ``artists`` list, album, name, duration, explicit, popularity and the twelve audio
  features as top-level fields named like the CSV columns.
* ``genre_tracks``: the shelves read model. Each genre's playable tracks are numbered
  ``0..count-1`` in track-id order, one document per (genre, number) with
  ``_id = "<genre>:<n>"`` and the track's summary (what a shelf shows) copied in. Numbering
  by sorted track id makes it a pure function of the catalogue, so a re-import rewrites
  nothing that did not change.
* ``genres``: ``{_id: genre, tracks: count}``, the numbering's upper bounds.
* ``catalogue``: one document, ``_id: "summary"``, with the number of tracks and genres.

Random shelves pick genres and numbers in Python, uniformly, and fetch exactly those slot
documents: no genre is ever read whole, and no ``$sample`` is needed.

Why only ``_id``: FerretDB 1.24's SQLite backend pushes no filter but ``{_id: <value>}``
down to SQLite, so ``$in`` and secondary indexes mean a scan of the whole collection. On
FerretDB the slots are therefore fetched one ``_id`` at a time (see ``_Lookup``); on MongoDB
with one ``$in`` query.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.store.exceptions import StoreError

log = logging.getLogger(__name__)

SONGS = "songs"
GENRE_TRACKS = "genre_tracks"
GENRES = "genres"
CATALOGUE = "catalogue"
SUMMARY_ID = "summary"

FEATURES: tuple[str, ...] = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
)
INT_FEATURES = frozenset({"key", "mode", "time_signature"})
MAX_TEXT = 1000  # the protocol's limit on names
FeatureValue = float | int | None

SLOT_FIELDS = {"track_id": 1, "name": 1, "artists": 1, "album": 1, "duration_ms": 1, "genres": 1}
DUPLICATE_KEY = 11000
IN_CHUNK = 1000  # ids per $in query or delete


@dataclass(frozen=True, slots=True)
class Track:
    """One song as stored: the rows of all its genres merged."""

    track_id: str
    name: str
    artists: tuple[str, ...]
    album: str
    duration_ms: int
    explicit: bool
    popularity: int
    genres: tuple[str, ...]  # sorted
    features: tuple[FeatureValue, ...]  # in FEATURES order; None = unknown

    @property
    def playable(self) -> bool:
        """Only a track with a name and a length can be put on a shelf (or played)."""
        return self.duration_ms > 0 and bool(self.name)


@dataclass(frozen=True, slots=True)
class TrackFacts:
    """What a play event is checked against."""

    duration_ms: int
    genres: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SyncCounts:
    """What bringing one collection to its wanted state did."""

    inserted: int = 0
    replaced: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.replaced


# --- documents ------------------------------------------------------------------------------
def song_document(track: Track) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": track.track_id,
        "name": track.name,
        "artists": list(track.artists),
        "album": track.album,
        "duration_ms": track.duration_ms,
        "explicit": track.explicit,
        "popularity": track.popularity,
        "genres": list(track.genres),
    }
    doc.update(zip(FEATURES, track.features, strict=True))
    return doc


def track_from_document(doc: Mapping[str, Any]) -> Track:
    return Track(
        track_id=doc["_id"],
        name=doc["name"],
        artists=tuple(doc["artists"]),
        album=doc["album"],
        duration_ms=doc["duration_ms"],
        explicit=doc["explicit"],
        popularity=doc["popularity"],
        genres=tuple(doc["genres"]),
        features=tuple(doc.get(name) for name in FEATURES),
    )


def slot_id(genre: str, n: int) -> str:
    return f"{genre}:{n}"


def slot_document(genre: str, n: int, track: Track) -> dict[str, Any]:
    """Shelf slot ``n`` of ``genre``: the summary a shelf shows, copied from the track."""
    return {
        "_id": slot_id(genre, n),
        "genre": genre,
        "n": n,
        "track_id": track.track_id,
        "name": track.name,
        "artists": list(track.artists),
        "album": track.album,
        "duration_ms": track.duration_ms,
        "genres": list(track.genres),
    }


def summary_from_slot(doc: Mapping[str, Any]) -> TrackSummary:
    return TrackSummary(
        track_id=doc["track_id"],
        name=doc["name"],
        artists=list(doc["artists"]),
        album=doc["album"],
        duration_ms=doc["duration_ms"],
        genres=list(doc.get("genres", ())),
    )


# --- random selection (pure) ----------------------------------------------------------------
def pick_slots(
    counts: Mapping[str, int], n_genres: int, per_genre: int, rng: random.Random
) -> list[tuple[str, list[int]]]:
    """``n_genres`` distinct genres, each with ``per_genre`` distinct slot numbers, uniformly.

    Genres are sampled from the sorted names, so a seeded ``rng`` gives the same pick.
    """
    stocked = sorted(genre for genre, count in counts.items() if count > 0)
    chosen = rng.sample(stocked, min(max(n_genres, 0), len(stocked)))
    return [
        (genre, rng.sample(range(counts[genre]), min(max(per_genre, 0), counts[genre])))
        for genre in chosen
    ]


# --- reading --------------------------------------------------------------------------------
class SongRepository:
    """Reads the catalogue. Thread-safe as pymongo is; the genre counts are cached briefly."""

    def __init__(
        self,
        db: Database[Any],
        *,
        counts_ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._songs: Collection[Any] = db[SONGS]
        self._slots: Collection[Any] = db[GENRE_TRACKS]
        self._genres: Collection[Any] = db[GENRES]
        self._counts_ttl_s = counts_ttl_s
        self._clock = clock
        self._counts: tuple[float, dict[str, int]] | None = None
        self._lookup: _Lookup | None = None

    def has_songs(self) -> bool:
        return self._songs.find_one({}, {"_id": 1}) is not None

    def count(self) -> int:
        """Tracks in the catalogue (from the import's summary: counting is a scan on FerretDB)."""
        summary = self._db[CATALOGUE].find_one({"_id": SUMMARY_ID})
        if summary is not None:
            return int(summary["tracks"])
        return self._songs.count_documents({})

    def genre_counts(self) -> dict[str, int]:
        """Playable tracks per genre."""
        return {doc["_id"]: int(doc["tracks"]) for doc in self._genres.find({})}

    def genres(self) -> list[str]:
        return sorted(self.genre_counts())

    def track_index(self) -> dict[str, TrackFacts]:
        """Every playable track's duration and genres: what play verification needs.

        A track that cannot be played (no name, duration 0) is left out, so a play naming it
        is refused as an unknown track.
        """
        index: dict[str, TrackFacts] = {}
        for doc in self._songs.find({}, {"name": 1, "duration_ms": 1, "genres": 1}):
            if doc["duration_ms"] > 0 and doc["name"]:
                index[doc["_id"]] = TrackFacts(doc["duration_ms"], tuple(doc["genres"]))
        return index

    def get_tracks(self, track_ids: Iterable[str]) -> dict[str, Track]:
        """The stored tracks among ``track_ids``; unknown ids are simply absent."""
        found = self._lookups().fetch(self._songs, list(dict.fromkeys(track_ids)), None)
        return {track_id: track_from_document(doc) for track_id, doc in found.items()}

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> list[Shelf]:
        """About ``n_genres`` random genres with ``per_genre`` random tracks each.

        Uniform over genres that have playable tracks and over the tracks within a genre.
        A slot that has vanished (a re-import running concurrently) is left out and the
        cached counts are dropped, so the next call sees the new numbering.
        """
        picks = pick_slots(self._cached_counts(), n_genres, per_genre, rng)
        wanted = [slot_id(genre, n) for genre, numbers in picks for n in numbers]
        found = self._lookups().fetch(self._slots, wanted, SLOT_FIELDS)
        if len(found) < len(wanted):
            self._counts = None
        shelves = []
        for genre, numbers in picks:
            docs = [found[key] for key in (slot_id(genre, n) for n in numbers) if key in found]
            if docs:
                shelves.append(Shelf(genre=genre, tracks=[summary_from_slot(d) for d in docs]))
        return shelves

    def _cached_counts(self) -> dict[str, int]:
        now = self._clock()
        if self._counts is None or now - self._counts[0] > self._counts_ttl_s:
            self._counts = (now, self.genre_counts())
        return self._counts[1]

    def _lookups(self) -> _Lookup:
        if self._lookup is None:
            self._lookup = _Lookup(is_ferretdb(self._db))
        return self._lookup


def is_ferretdb(db: Database[Any]) -> bool:
    """FerretDB says so in buildInfo; MongoDB has no such field."""
    return "ferretdbVersion" in db.client.admin.command("buildInfo")


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Fetch documents by ``_id``: one ``$in`` query on MongoDB, one query per id on FerretDB.

    FerretDB 1.24 (SQLite) evaluates ``$in`` by decoding every document of the collection;
    a lone ``{_id: x}`` is the only filter it hands to SQLite.
    """

    one_by_one: bool

    def fetch(
        self, collection: Collection[Any], ids: Sequence[str], projection: Mapping[str, int] | None
    ) -> dict[str, Any]:
        if self.one_by_one:
            docs = (collection.find_one({"_id": key}, projection) for key in ids)
            return {doc["_id"]: doc for doc in docs if doc is not None}
        found: dict[str, Any] = {}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = {"_id": {"$in": list(ids[start : start + IN_CHUNK])}}
            found.update((doc["_id"], doc) for doc in collection.find(chunk, projection))
        return found


# --- writing --------------------------------------------------------------------------------
class CollectionSync:
    """Brings one collection to a wanted set of documents, writing only what differs.

    The stored documents are read once, as raw BSON, and remembered as digests. A wanted
    document whose BSON digest matches is left alone; a new one is inserted (unordered,
    in batches); a changed one is deleted and inserted again (two batched statements instead
    of one update per document, which FerretDB runs as a scan each). Whatever was stored but
    not wanted is deleted by ``finish``. A reader may miss a changed document for a moment:
    there are no transactions on FerretDB, and none are needed for a catalogue.
    """

    def __init__(self, collection: Collection[Any], batch_size: int = 5000) -> None:
        self._collection = collection
        self._batch_size = batch_size
        self._stored = self._stored_digests()
        self._new: list[RawBSONDocument] = []
        self._changed: list[RawBSONDocument] = []
        self._inserted = self._replaced = self._unchanged = 0

    def put(self, doc: Mapping[str, Any]) -> None:
        raw = bson.encode(doc)
        stored = self._stored.pop(doc["_id"], None)
        if stored is None:
            self._new.append(RawBSONDocument(raw))
        elif stored != _digest(raw):
            self._changed.append(RawBSONDocument(raw))
        else:
            self._unchanged += 1
        if len(self._new) + len(self._changed) >= self._batch_size:
            self.flush()

    def flush(self) -> None:
        if self._changed:
            ids = [doc["_id"] for doc in self._changed]
            self._delete(ids)
            self._insert(self._changed)
            self._replaced += len(self._changed)
            self._changed = []
        if self._new:
            self._insert(self._new)
            self._inserted += len(self._new)
            self._new = []

    def finish(self) -> SyncCounts:
        """Write what is pending and delete what was not wanted."""
        self.flush()
        stale = list(self._stored)
        self._delete(stale)
        self._stored = {}
        return SyncCounts(self._inserted, self._replaced, self._unchanged, len(stale))

    def _stored_digests(self) -> dict[str, bytes]:
        if self._collection.find_one({}, {"_id": 1}) is None:
            return {}  # the first import: nothing to read
        raw = self._collection.with_options(
            codec_options=CodecOptions(document_class=RawBSONDocument)
        )
        return {doc["_id"]: _digest(doc.raw) for doc in raw.find({})}

    def _insert(self, docs: list[RawBSONDocument]) -> None:
        try:
            self._collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # Someone else inserted the same documents meanwhile (two imports at once):
            # ours are the wanted state, so replace theirs.
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != DUPLICATE_KEY for err in errors):
                raise StoreError(f"catalogue write failed: {errors[:3]}", exc.code) from exc
            for err in errors:
                doc = docs[err["index"]]
                self._collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def _delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), IN_CHUNK):
            self._collection.delete_many({"_id": {"$in": list(ids[start : start + IN_CHUNK])}})


def _digest(raw: bytes | memoryview) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


class CatalogueWriter:
    """Writes a whole catalogue: tracks and shelf slots as they stream in, then the counts."""

    def __init__(self, db: Database[Any], batch_size: int = 5000) -> None:
        self._db = db
        try:
            self._songs = CollectionSync(db[SONGS], batch_size)
            self._slots = CollectionSync(db[GENRE_TRACKS], batch_size)
        except PyMongoError as exc:
            raise StoreError(f"cannot read the stored catalogue: {exc}", _code(exc)) from exc

    def put_track(self, track: Track, slots: Iterable[tuple[str, int]]) -> None:
        """Store ``track`` and the shelf slots ``(genre, n)`` it fills."""
        self._songs.put(song_document(track))
        for genre, n in slots:
            self._slots.put(slot_document(genre, n, track))

    def finish(self, genre_counts: Mapping[str, int], tracks: int) -> SyncCounts:
        """Write the counts last, so shelves never pick a slot that is not written yet."""
        songs = self._songs.finish()
        self._slots.finish()
        genres = CollectionSync(self._db[GENRES])
        for genre in sorted(genre_counts):
            genres.put({"_id": genre, "tracks": genre_counts[genre]})
        genres.finish()
        summary = CollectionSync(self._db[CATALOGUE])
        summary.put({"_id": SUMMARY_ID, "tracks": tracks, "genres": len(genre_counts)})
        summary.finish()
        return songs


def _code(exc: PyMongoError) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def dump(db: Database[Any]) -> Iterator[tuple[str, list[Any]]]:
    """Every catalogue collection, sorted by ``_id``: for comparing two stores in tests."""
    for name in (SONGS, GENRE_TRACKS, GENRES, CATALOGUE):
        yield name, sorted(db[name].find({}), key=lambda doc: doc["_id"])
