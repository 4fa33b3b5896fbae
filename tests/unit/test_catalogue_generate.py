"""The generated catalogue: deterministic by seed, and shaped like the real CSV."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from bluetrack.catalogue.census import take_census
from bluetrack.catalogue.generate import LONGEST_MS, SHORTEST_MS, generate_rows
from bluetrack.catalogue.genres import GENRES
from bluetrack.catalogue.importer import stream_tracks
from bluetrack.catalogue.rows import HEADER, RowParser
from bluetrack.catalogue.sources import GeneratedSource

PER_GENRE = 30


@pytest.fixture(scope="module")
def rows() -> list[list[str]]:
    return list(generate_rows(seed=7, per_genre=PER_GENRE))


def test_the_same_seed_gives_the_same_rows(rows: list[list[str]]) -> None:
    assert list(generate_rows(seed=7, per_genre=PER_GENRE)) == rows


def test_another_seed_gives_another_catalogue(rows: list[list[str]]) -> None:
    other = list(generate_rows(seed=8, per_genre=PER_GENRE))

    assert {r[1] for r in other}.isdisjoint({r[1] for r in rows})


def test_every_real_genre_gets_per_genre_rows(rows: list[list[str]]) -> None:
    assert len(GENRES) == 114
    assert Counter(r[-1] for r in rows) == dict.fromkeys(GENRES, PER_GENRE)


def test_rows_have_the_real_header_and_parse_without_issues(rows: list[list[str]]) -> None:
    parser = RowParser(HEADER)
    parsed = [parser.parse(line, fields) for line, fields in enumerate(rows, start=2)]

    assert all(row is not None and not issues for row, issues in parsed)
    assert [r[0] for r in rows] == [str(i) for i in range(len(rows))]  # the index column


def test_ids_look_like_spotify_ids(rows: list[list[str]]) -> None:
    assert all(len(r[1]) == 22 and r[1].isalnum() and r[1].isascii() for r in rows)


def test_some_tracks_are_listed_under_several_genres(rows: list[list[str]]) -> None:
    genres_of: dict[str, set[str]] = {}
    for r in rows:
        genres_of.setdefault(r[1], set()).add(r[-1])
    several = sum(len(genres) > 1 for genres in genres_of.values())

    assert 0.05 < several / len(genres_of) < 0.3  # the real file: 18%


def test_durations_are_log_normal_around_three_and_a_half_minutes(rows: list[list[str]]) -> None:
    durations = [int(r[6]) for r in rows]

    assert all(SHORTEST_MS <= d <= LONGEST_MS for d in durations)
    assert 190_000 < statistics.median(durations) < 230_000
    assert statistics.mean(durations) > statistics.median(durations)  # skewed right


def test_some_tracks_credit_several_artists(rows: list[list[str]]) -> None:
    assert any(";" in r[2] for r in rows)


def test_features_stay_in_the_real_ranges(rows: list[list[str]]) -> None:
    at = {name: HEADER.index(name) for name in HEADER if name}
    for r in rows:
        assert 0 <= float(r[at["danceability"]]) <= 1
        assert 0 <= int(r[at["key"]]) <= 11
        assert -50 <= float(r[at["loudness"]]) <= 5
        assert r[at["mode"]] in {"0", "1"}
        assert r[at["time_signature"]] in {"1", "3", "4", "5"}
        assert r[at["explicit"]] in {"True", "False"}


def test_the_generated_source_imports_like_a_csv() -> None:
    source = GeneratedSource(seed=3, per_genre=5)
    census = take_census(source)
    issues = list(census.issues)
    tracks = list(stream_tracks(source, census, issues))

    assert census.rows_read == 5 * 114
    assert len(tracks) == len(census.groups) == len({t.track_id for t in tracks})
    assert issues == []
    assert source.label == "generated (seed 3, 5 rows per genre)"
