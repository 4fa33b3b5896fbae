"""The song catalogue in MongoDB: the tracks, the genre shelves, and how both are read.

Collections (every read is by ``_id``, see "FerretDB" below):

* ``songs``: one document per track, ``_id`` = Spotify track id, with its sorted ``genres``,
  ``artists`` list, album, name, duration, explicit, popularity and the twelve audio
  features as top-level fields named like the CSV columns.
* ``genre_tracks``: each genre's playable tracks, sorted by track id and numbered
  ``0..count-1``, in chunks of CHUNK: ``{_id: "<genre>:<chunk>", genre, chunk, track_ids,
  durations_ms}``; track ``n`` of a genre is ``track_ids[n % CHUNK]`` of chunk ``n // CHUNK``.
  Numbering by sorted id makes the chunks a pure function of the catalogue, so a re-import
  rewrites none that did not change.
* ``genres``: ``{_id: genre, tracks: count}``, the numbering's upper bounds.
* ``catalogue``: one document, ``_id: "summary"``, with the number of tracks and genres.

Random shelves pick genres and numbers in Python, uniformly, then fetch the chunks holding
those numbers and the songs they name: two ``$in`` queries on MongoDB, whatever the number
of shelves. A request reads at most ``per_genre`` chunks of a genre, never the whole genre,
and no ``$sample`` is needed. The chunks are also the track index the server verifies plays
against: 1,775 small documents for the real file instead of 89,741 songs.

FerretDB: version 1.24's SQLite backend hands SQLite no filter but ``{_id: <value>}`` (and,
as built upstream, not even that one uses the ``_id`` index: see docs/catalogue.md). ``$in``
is evaluated by decoding every document of the collection, so where FerretDB's ``_id``
lookups use the index, ``choose_lookup`` fetches one ``_id`` at a time.
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

CHUNK = 64  # tracks per genre_tracks document: small reads for shelves, few documents to write
SUMMARY_FIELDS = {"name": 1, "artists": 1, "album": 1, "duration_ms": 1, "genres": 1}
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


def chunk_id(genre: str, chunk: int) -> str:
    return f"{genre}:{chunk}"


def chunk_documents(genre: str, members: Sequence[tuple[str, int]]) -> Iterator[dict[str, Any]]:
    """The ``genre_tracks`` documents of one genre from its (track id, duration) sorted by id."""
    for chunk, start in enumerate(range(0, len(members), CHUNK)):
        part = members[start : start + CHUNK]
        yield {
            "_id": chunk_id(genre, chunk),
            "genre": genre,
            "chunk": chunk,
            "track_ids": [track_id for track_id, _ in part],
            "durations_ms": [duration_ms for _, duration_ms in part],
        }


def summary_from_song(doc: Mapping[str, Any]) -> TrackSummary:
    return TrackSummary(
        track_id=doc["_id"],
        name=doc["name"],
        artists=list(doc["artists"]),
        album=doc["album"],
        duration_ms=doc["duration_ms"],
        genres=list(doc["genres"]),
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
        self._chunks: Collection[Any] = db[GENRE_TRACKS]
        self._genres: Collection[Any] = db[GENRES]
        self._counts_ttl_s = counts_ttl_s
        self._clock = clock
        self._counts: tuple[float, dict[str, int]] | None = None
        self._lookup: _Lookup | None = None  # chosen on first use, once there are songs

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

        Read from the genre chunks, so a track that cannot be played (no name, duration 0,
        hence on no shelf) is not in it, and a play naming it is refused as unknown.
        """
        durations: dict[str, int] = {}
        genres: dict[str, list[str]] = {}
        for doc in self._chunks.find({}, {"genre": 1, "track_ids": 1, "durations_ms": 1}):
            for track_id, duration_ms in zip(doc["track_ids"], doc["durations_ms"], strict=True):
                durations[track_id] = duration_ms
                genres.setdefault(track_id, []).append(doc["genre"])
        return {
            track_id: TrackFacts(duration_ms, tuple(sorted(genres[track_id])))
            for track_id, duration_ms in durations.items()
        }

    def get_tracks(self, track_ids: Iterable[str]) -> dict[str, Track]:
        """The stored tracks among ``track_ids``; unknown ids are simply absent."""
        found = self._lookups().fetch(self._songs, list(dict.fromkeys(track_ids)), None)
        return {track_id: track_from_document(doc) for track_id, doc in found.items()}

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> list[Shelf]:
        """About ``n_genres`` random genres with ``per_genre`` random tracks each.

        Uniform over the genres that have playable tracks and over the tracks of a genre.
        A track that vanished meanwhile (a re-import running) is left out and the cached
        counts are dropped, so the next call sees the new numbering.
        """
        picks = pick_slots(self._cached_counts(), n_genres, per_genre, rng)
        lookups = self._lookups()
        keys = list(dict.fromkeys(chunk_id(g, n // CHUNK) for g, numbers in picks for n in numbers))
        chunks = lookups.fetch(self._chunks, keys, {"track_ids": 1})
        chosen = [(genre, _members(chunks, genre, numbers)) for genre, numbers in picks]
        wanted = list(dict.fromkeys(track_id for _, ids in chosen for track_id in ids))
        songs = lookups.fetch(self._songs, wanted, SUMMARY_FIELDS)
        found = sum(track_id in songs for _, ids in chosen for track_id in ids)
        if found < sum(len(numbers) for _, numbers in picks):
            self._counts = None
        shelves = []
        for genre, ids in chosen:
            tracks = [summary_from_song(songs[track_id]) for track_id in ids if track_id in songs]
            if tracks:
                shelves.append(Shelf(genre=genre, tracks=tracks))
        return shelves

    def _cached_counts(self) -> dict[str, int]:
        now = self._clock()
        if self._counts is None or now - self._counts[0] > self._counts_ttl_s:
            self._counts = (now, self.genre_counts())
        return self._counts[1]

    def _lookups(self) -> _Lookup:
        if self._lookup is None:
            self._lookup = choose_lookup(self._db)
        return self._lookup or _Lookup(one_by_one=False)


def _members(chunks: Mapping[str, Any], genre: str, numbers: Iterable[int]) -> list[str]:
    """Track ids at positions ``numbers`` of ``genre``, skipping any missing chunk or slot."""
    ids = []
    for n in numbers:
        chunk = chunks.get(chunk_id(genre, n // CHUNK))
        if chunk is not None and n % CHUNK < len(chunk["track_ids"]):
            ids.append(chunk["track_ids"][n % CHUNK])
    return ids


def is_ferretdb(db: Database[Any]) -> bool:
    """FerretDB says so in buildInfo; MongoDB has no such field."""
    return "ferretdbVersion" in db.client.admin.command("buildInfo")


def choose_lookup(db: Database[Any]) -> _Lookup | None:
    """How to fetch by ``_id`` here; None while there are no songs to judge by.

    MongoDB: ``$in``. FerretDB that uses its ``_id`` index: one ``find_one`` per id (it
    evaluates ``$in`` by decoding the whole collection). FerretDB as built upstream, whose
    ``_id`` lookups scan the table (docs/catalogue.md): ``$in`` after all, one decoding scan
    instead of one scan per id, and a warning, since shelves then take seconds.
    """
    if not is_ferretdb(db):
        return _Lookup(one_by_one=False)
    explained = db.command(
        "explain", {"find": SONGS, "filter": {"_id": ""}}, verbosity="queryPlanner"
    )
    plan = str(explained.get("queryPlanner", ""))
    if "USING INDEX" in plan:
        return _Lookup(one_by_one=True)
    if "SCAN" not in plan:
        return None  # no songs collection yet
    log.warning(
        "this FerretDB scans the whole collection for every _id lookup (it does not use its "
        "_id index): random shelves will take seconds; see docs/catalogue.md for the fix"
    )
    return _Lookup(one_by_one=False)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Fetch documents by ``_id``: one ``$in`` query, or one query per id (see choose_lookup)."""

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
    """Writes a whole catalogue: tracks as they stream in, then the shelves and counts."""

    def __init__(self, db: Database[Any], batch_size: int = 5000) -> None:
        self._db = db
        try:
            self._songs = CollectionSync(db[SONGS], batch_size)
        except PyMongoError as exc:
            raise StoreError(f"cannot read the stored catalogue: {exc}", _code(exc)) from exc

    def put_track(self, track: Track) -> None:
        self._songs.put(song_document(track))

    def finish(self, shelves: Mapping[str, Sequence[tuple[str, int]]], tracks: int) -> SyncCounts:
        """Write the shelves after the songs and the counts last, so a shelf never names a
        track, or a count a chunk, that is not written yet. ``shelves`` maps each genre to
        its playable (track id, duration) sorted by id."""
        songs = self._songs.finish()
        chunks = CollectionSync(self._db[GENRE_TRACKS])
        for genre in sorted(shelves):
            for doc in chunk_documents(genre, shelves[genre]):
                chunks.put(doc)
        chunks.finish()
        genres = CollectionSync(self._db[GENRES])
        for genre in sorted(shelves):
            genres.put({"_id": genre, "tracks": len(shelves[genre])})
        genres.finish()
        summary = CollectionSync(self._db[CATALOGUE])
        summary.put({"_id": SUMMARY_ID, "tracks": tracks, "genres": len(shelves)})
        summary.finish()
        return songs


def _code(exc: PyMongoError) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def dump(db: Database[Any]) -> Iterator[tuple[str, list[Any]]]:
    """Every catalogue collection, sorted by ``_id``: for comparing two stores in tests."""
    for name in (SONGS, GENRE_TRACKS, GENRES, CATALOGUE):
        yield name, sorted(db[name].find({}), key=lambda doc: doc["_id"])
