"""CatalogueCache: shelves and play facts from memory, following the store's rules."""

from __future__ import annotations

import random

import pytest

from bluetrack.protocol.codec import MAX_REPLY_BYTES, decode, encode
from bluetrack.protocol.messages import Shelf, SongsReply, SongsRequest, TrackSummary
from bluetrack.server.catalogue_cache import CatalogueCache
from bluetrack.server.handlers import _songs_from_fragments

GENRES = ["jazz", "pop", "rock"]


def track(i: int, genres: list[str], *, duration: int = 200_000, name: str = "x") -> TrackSummary:
    return TrackSummary(
        track_id=f"t{i:04d}", name=name, artists=["a"], album="b", duration_ms=duration,
        genres=genres,
    )  # fmt: skip


@pytest.fixture
def cache() -> CatalogueCache:
    tracks = [track(i, [GENRES[i % 3]]) for i in range(30)]
    tracks.append(track(100, ["jazz", "pop"]))
    tracks.append(track(101, ["rock"], duration=0))  # not playable
    tracks.append(track(102, ["rock"], name=""))  # not playable
    tracks.append(track(103, ["ambient"], duration=0))  # a genre with nothing playable
    return CatalogueCache(tracks)


def test_shelves_have_the_asked_size_and_only_their_genres_tracks(cache: CatalogueCache) -> None:
    shelves = cache.random_shelves(2, 4, random.Random(7))
    assert len(shelves) == 2 and len({s.genre for s in shelves}) == 2
    for shelf in shelves:
        assert len(shelf.tracks) == 4 and len({t.track_id for t in shelf.tracks}) == 4
        assert all(shelf.genre in t.genres for t in shelf.tracks)


def test_asking_for_more_than_there_is_gives_what_there_is(cache: CatalogueCache) -> None:
    shelves = cache.random_shelves(10, 50, random.Random(1))
    assert sorted(s.genre for s in shelves) == GENRES, "ambient has nothing playable"
    assert {s.genre: len(s.tracks) for s in shelves} == {"jazz": 11, "pop": 11, "rock": 10}


def test_unplayable_tracks_are_neither_shelved_nor_playable(cache: CatalogueCache) -> None:
    index = cache.track_index()
    assert {"t0101", "t0102", "t0103"}.isdisjoint(index)
    assert index["t0100"].genres == {"jazz", "pop"}
    assert index["t0000"].duration_ms == 200_000
    assert len(cache) == 31


def test_seeded_picks_are_reproducible(cache: CatalogueCache) -> None:
    first = cache.random_shelves(3, 3, random.Random(42))
    again = cache.random_shelves(3, 3, random.Random(42))
    assert first == again


def test_shelves_travel_as_a_valid_reply(cache: CatalogueCache) -> None:
    reply = SongsReply(
        request_id="request-0001", client_id="client-0001", ok=True,
        shelves=cache.random_shelves(3, 5, random.Random(3)),
    )  # fmt: skip
    assert decode(encode(reply), SongsReply, max_bytes=MAX_REPLY_BYTES) == reply


def test_the_fragment_fast_path_encodes_exactly_the_model_shelves(cache: CatalogueCache) -> None:
    fragments = cache.shelf_fragments(3, 5, random.Random(9))
    shelves = cache.random_shelves(3, 5, random.Random(9))
    assert [Shelf.model_validate_json(f) for f in fragments] == shelves


def test_songs_update_through_the_fast_path_is_a_valid_reply(cache: CatalogueCache) -> None:
    request = SongsRequest(
        client_id="client-0001", session_id="session-01", sealed_auth="AAAA", genres=2, per_genre=3
    )
    outcome = _songs_from_fragments(request, cache.shelf_fragments(2, 3, random.Random(5)))
    assert outcome.encoded is not None
    reply = decode(outcome.encoded, SongsReply, max_bytes=MAX_REPLY_BYTES)
    assert reply.ok and reply.request_id == request.request_id
    assert reply.shelves == cache.random_shelves(2, 3, random.Random(5))


def test_an_oversized_reply_sends_fewer_shelves() -> None:
    long_name = "n" * 1000
    big = CatalogueCache(
        track(i, [f"g{i % 40}"], name=f"{long_name}{i}"[-1000:]) for i in range(40 * 50)
    )
    request = SongsRequest(client_id="client-0001", session_id="session-01", sealed_auth="AAAA")
    outcome = _songs_from_fragments(request, big.shelf_fragments(40, 50, random.Random(1)))
    assert outcome.encoded is not None and len(outcome.encoded) <= MAX_REPLY_BYTES
    reply = decode(outcome.encoded, SongsReply, max_bytes=MAX_REPLY_BYTES)
    assert 0 < len(reply.shelves) < 40
