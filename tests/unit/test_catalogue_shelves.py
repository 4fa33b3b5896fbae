"""Choosing random shelf slots (pure), and the song/slot documents the store keeps."""

from __future__ import annotations

import random
from collections import Counter

from bluetrack.catalogue.report import ImportReport
from bluetrack.catalogue.rows import RowIssue
from bluetrack.protocol.messages import TrackSummary
from bluetrack.store.songs import (
    CHUNK,
    FEATURES,
    Track,
    chunk_documents,
    pick_slots,
    song_document,
    summary_from_song,
    track_from_document,
)

COUNTS = {"pop": 12, "rock": 5, "jazz": 1, "empty": 0}


def test_picks_distinct_genres_and_distinct_slots_within_bounds() -> None:
    picks = pick_slots(COUNTS, n_genres=3, per_genre=4, rng=random.Random(1))

    assert sorted(genre for genre, _ in picks) == ["jazz", "pop", "rock"]
    for genre, numbers in picks:
        assert len(numbers) == min(4, COUNTS[genre]) == len(set(numbers))
        assert all(0 <= n < COUNTS[genre] for n in numbers)


def test_a_genre_without_tracks_is_never_picked_and_asking_for_more_is_fine() -> None:
    picks = pick_slots(COUNTS, n_genres=10, per_genre=50, rng=random.Random(2))

    assert dict(picks).keys() == {"pop", "rock", "jazz"}
    assert sorted(dict(picks)["rock"]) == [0, 1, 2, 3, 4]


def test_nothing_asked_nothing_picked() -> None:
    assert pick_slots(COUNTS, 0, 10, random.Random(3)) == []
    assert pick_slots({}, 20, 10, random.Random(3)) == []


def test_the_same_seed_picks_the_same_slots() -> None:
    first = pick_slots(COUNTS, 2, 3, random.Random(42))

    assert pick_slots(dict(reversed(COUNTS.items())), 2, 3, random.Random(42)) == first


def test_slots_are_uniform_within_a_genre() -> None:
    rng = random.Random(5)
    seen: Counter[int] = Counter()
    draws = 6000
    for _ in range(draws):
        seen.update(pick_slots({"pop": 12}, 1, 4, rng)[0][1])
    expected = draws * 4 / 12
    chi_square = sum((seen[n] - expected) ** 2 / expected for n in range(12))

    assert chi_square < 40  # 11 degrees of freedom: p < 0.0001 above ~35


def test_genres_are_uniform() -> None:
    rng = random.Random(6)
    seen = Counter(genre for _ in range(3000) for genre, _ in pick_slots(COUNTS, 1, 1, rng))
    chi_square = sum((seen[g] - 1000) ** 2 / 1000 for g in ("pop", "rock", "jazz"))

    assert chi_square < 20  # 2 degrees of freedom


TRACK = Track(
    track_id="5SuOikwiRyPMVoIQDJUgSV",
    name="Comedy",
    artists=("Gen Hoshino", "Someone"),
    album="Comedy",
    duration_ms=230666,
    explicit=False,
    popularity=73,
    genres=("acoustic", "j-pop"),
    features=(0.676, 0.461, 1, -6.746, 0, 0.143, 0.0322, 1.01e-06, 0.358, 0.715, None, 4),
)


def test_a_song_document_round_trips() -> None:
    doc = song_document(TRACK)

    assert doc["_id"] == TRACK.track_id
    assert doc["artists"] == ["Gen Hoshino", "Someone"]
    assert doc["tempo"] is None
    assert set(FEATURES) <= doc.keys()
    assert track_from_document(doc) == TRACK


def test_a_song_document_gives_the_summary_a_shelf_shows() -> None:
    assert summary_from_song(song_document(TRACK)) == TrackSummary(
        track_id=TRACK.track_id,
        name="Comedy",
        artists=["Gen Hoshino", "Someone"],
        album="Comedy",
        duration_ms=230666,
        genres=["acoustic", "j-pop"],
    )


def test_a_genre_is_stored_in_chunks_numbered_from_zero() -> None:
    members = [(f"track{i:04d}", 1000 + i) for i in range(CHUNK + 3)]

    docs = list(chunk_documents("j-pop", members))

    assert [(d["_id"], d["genre"], d["chunk"]) for d in docs] == [
        ("j-pop:0", "j-pop", 0),
        ("j-pop:1", "j-pop", 1),
    ]
    assert docs[0]["track_ids"][:2] == ["track0000", "track0001"]
    assert docs[1]["track_ids"] == [f"track{i:04d}" for i in range(CHUNK, CHUNK + 3)]
    assert docs[1]["durations_ms"] == [1000 + i for i in range(CHUNK, CHUNK + 3)]


def test_the_report_says_what_happened_in_one_line_then_the_issues() -> None:
    issues = tuple(RowIssue(line, None, "bad", "skipped") for line in range(2, 5))
    report = ImportReport(
        source="x.csv",
        rows_read=114_000,
        rows_merged=24_259,
        tracks=89_741,
        tracks_written=89_741,
        tracks_unchanged=0,
        tracks_removed=0,
        genres=114,
        shelved=113_549,
        issues=issues,
        seconds=12.5,
    )

    assert str(report).startswith("89,741 tracks in 114 genres from x.csv: 89,741 written")
    assert "3 skipped" in str(report)
    assert report.lines(max_issues=2)[1:] == [
        "  line 2: bad -> skipped",
        "  line 3: bad -> skipped",
        "  ... and 1 more",
    ]
    assert not report.changed_nothing
