"""The catalogue against a real store (the session's FerretDB, or MONGODB_URI)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bluetrack.catalogue import CsvSource, GeneratedSource, ensure_catalogue, import_catalogue
from bluetrack.catalogue import importer as importer_module
from bluetrack.catalogue.rows import HEADER
from bluetrack.config import PROJECT_ROOT, Settings
from bluetrack.store.database import connected, ensure_indexes, index_hook, open_database
from bluetrack.store.exceptions import StoreUnavailable
from bluetrack.store.songs import SongRepository, dump

pytestmark = pytest.mark.integration

REAL_CSV = PROJECT_ROOT.parent / "shared" / "data" / "spotify" / "spotify_tracks.csv"
FEATURES = "0.5,0.5,1,-6.0,1,0.05,0.1,0.0,0.1,0.5,120.0,4"


def small_csv(tmp_path: Path, genres: dict[str, int], name: str = "small.csv") -> CsvSource:
    """``count`` tracks per genre with ids ``<genre>Track<i>``; the first genre's first
    track is also listed under the last genre."""
    first, last = next(iter(genres)), list(genres)[-1]
    listed = [(g, f"{g}Track{i:03d}", i) for g, count in genres.items() for i in range(count)]
    listed.append((last, f"{first}Track000", 0))
    lines = [",".join(HEADER)] + [
        f"{index},{track_id.replace('-', '')},Artist {i},Album,Song {i},{i},{180_000 + i},"
        f"False,{FEATURES},{genre}"
        for index, (genre, track_id, i) in enumerate(listed)
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return CsvSource(path)


def snapshot(db: Any) -> dict[str, list[Any]]:
    return dict(dump(db))


# --- import -----------------------------------------------------------------------------------
def test_importing_twice_leaves_the_same_store(mongo_db: Any) -> None:
    source = GeneratedSource(seed=11, per_genre=12)

    first = import_catalogue(mongo_db, source)
    after_first = snapshot(mongo_db)
    second = import_catalogue(mongo_db, source)

    assert snapshot(mongo_db) == after_first
    assert first.tracks_written == first.tracks > 0
    assert second.changed_nothing
    assert second.tracks_unchanged == second.tracks == first.tracks
    assert SongRepository(mongo_db).count() == first.tracks


def test_a_changed_source_rewrites_only_the_difference(mongo_db: Any, mongo_client: Any) -> None:
    import_catalogue(mongo_db, GeneratedSource(seed=1, per_genre=6))
    report = import_catalogue(mongo_db, GeneratedSource(seed=2, per_genre=4))

    fresh = mongo_client[f"{mongo_db.name}_fresh"]
    try:
        import_catalogue(fresh, GeneratedSource(seed=2, per_genre=4))
        assert snapshot(mongo_db) == snapshot(fresh)
    finally:
        mongo_client.drop_database(fresh.name)
    assert report.tracks_removed > 0
    assert report.tracks_written == report.tracks


def test_a_changed_track_is_rewritten_and_shelves_show_it(mongo_db: Any, tmp_path: Path) -> None:
    import_catalogue(mongo_db, small_csv(tmp_path, {"pop": 3, "rock": 2}))
    changed = small_csv(tmp_path, {"pop": 3, "rock": 2}, name="changed.csv")
    changed.path.write_text(changed.path.read_text().replace("Song 1,", "Renamed,", 1))

    report = import_catalogue(mongo_db, changed)
    songs = SongRepository(mongo_db)
    tracks = songs.get_tracks(["popTrack001", "popTrack000", "nope"])
    shelves = {shelf.genre: shelf for shelf in songs.random_shelves(2, 3, random.Random(0))}

    assert (report.tracks_written, report.tracks_unchanged) == (1, 4)
    assert tracks["popTrack001"].name == "Renamed"
    assert tracks["popTrack000"].genres == ("pop", "rock")
    assert "nope" not in tracks
    assert "Renamed" in {track.name for track in shelves["pop"].tracks}


@pytest.mark.slow
def test_the_real_file_gives_89741_tracks_in_114_genres(mongo_db: Any) -> None:
    if not REAL_CSV.is_file():
        pytest.skip(f"the Spotify CSV is not at {REAL_CSV} (see shared/data/spotify/SOURCE.md)")

    report = import_catalogue(mongo_db, CsvSource(REAL_CSV))
    songs = SongRepository(mongo_db)

    assert (report.rows_read, report.tracks, report.genres) == (114_000, 89_741, 114)
    assert report.rows_merged == 114_000 - 89_741
    assert [(i.line, i.track_id, i.action) for i in report.issues] == [
        (65902, "1kR4gIb7nGxHPI3D2ifs59", "kept off the shelves")
    ]
    assert songs.count() == 89_741
    assert len(songs.genres()) == 114
    assert sum(songs.genre_counts().values()) == report.shelved == 113_549
    index = songs.track_index()
    assert len(index) == 89_740  # all but the empty-name row
    assert "1kR4gIb7nGxHPI3D2ifs59" not in index
    assert sum(len(facts.genres) > 1 for facts in index.values()) == 16_299


# --- reading ----------------------------------------------------------------------------------
def test_random_shelves_come_from_their_genre_and_are_uniform_ish(
    mongo_db: Any, tmp_path: Path
) -> None:
    import_catalogue(mongo_db, small_csv(tmp_path, {"pop": 12, "rock": 6, "k-pop": 3}))
    songs = SongRepository(mongo_db)
    rng = random.Random(2024)
    seen: dict[str, Counter[str]] = {}
    draws = 150
    for _ in range(draws):
        shelves = songs.random_shelves(3, 4, rng)
        assert sorted(shelf.genre for shelf in shelves) == ["k-pop", "pop", "rock"]
        for shelf in shelves:
            ids = [track.track_id for track in shelf.tracks]
            assert len(ids) == len(set(ids)) == 4  # k-pop: its 3 tracks and pop's first
            assert all(shelf.genre in track.genres for track in shelf.tracks)
            seen.setdefault(shelf.genre, Counter()).update(ids)

    pop = seen["pop"]
    assert len(pop) == 12
    expected = draws * 4 / 12
    assert sum((pop[t] - expected) ** 2 / expected for t in pop) < 40  # 11 dof, generous


def test_shelves_ask_for_fewer_genres_than_there_are(mongo_db: Any, tmp_path: Path) -> None:
    import_catalogue(mongo_db, small_csv(tmp_path, {"pop": 5, "rock": 5, "jazz": 5}))

    shelves = SongRepository(mongo_db).random_shelves(2, 3, random.Random(1))

    assert len(shelves) == 2
    assert len({shelf.genre for shelf in shelves}) == 2
    assert all(len(shelf.tracks) == 3 for shelf in shelves)
    track = shelves[0].tracks[0]
    assert track.duration_ms >= 180_000 and track.artists and track.album == "Album"


def test_shelves_notice_a_shrunken_genre_at_once(mongo_db: Any, tmp_path: Path) -> None:
    import_catalogue(mongo_db, small_csv(tmp_path, {"pop": 5}))
    songs = SongRepository(mongo_db, counts_ttl_s=3600)  # only a miss may refresh the counts
    rng = random.Random(3)
    assert len(songs.random_shelves(1, 5, rng)[0].tracks) == 5

    import_catalogue(mongo_db, small_csv(tmp_path, {"pop": 2}, name="fewer.csv"))
    during = songs.random_shelves(1, 5, rng)
    after = [songs.random_shelves(1, 2, rng)[0] for _ in range(10)]

    assert len(during[0].tracks) == 2  # the 3 vanished places are left out ...
    # ... and the counts were reloaded: with the old count of 5, 2 picks would often miss.
    assert all(len(shelf.tracks) == 2 for shelf in after)
    assert {t.track_id for t in after[0].tracks} == {"popTrack000", "popTrack001"}


def test_an_empty_store_has_no_shelves_and_no_index(mongo_db: Any) -> None:
    songs = SongRepository(mongo_db)

    assert songs.random_shelves(20, 10, random.Random(1)) == []
    assert songs.track_index() == {}
    assert not songs.has_songs()
    assert songs.count() == 0


def test_the_track_index_has_durations_and_genres(mongo_db: Any, tmp_path: Path) -> None:
    import_catalogue(mongo_db, small_csv(tmp_path, {"pop": 2, "rock": 1}))

    index = SongRepository(mongo_db).track_index()

    assert index["popTrack000"].duration_ms == 180_000
    assert index["popTrack000"].genres == ("pop", "rock")
    assert set(index) == {"popTrack000", "popTrack001", "rockTrack000"}


# --- ensure_catalogue and the command ---------------------------------------------------------
def test_ensure_catalogue_imports_once(
    mongo_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importer_module, "DEFAULT_CSV", tmp_path / "absent.csv")
    settings = mongo_settings.model_copy(
        update={"catalogue_csv": None, "catalogue_generated_per_genre": 3}
    )

    first = ensure_catalogue(settings)

    assert first is not None and first.source.startswith("generated (seed 42, 3 rows")
    assert ensure_catalogue(settings) is None


def test_ensure_catalogue_takes_the_configured_csv(
    mongo_settings: Settings, tmp_path: Path
) -> None:
    source = small_csv(tmp_path, {"pop": 2})
    settings = mongo_settings.model_copy(update={"catalogue_csv": source.path})

    report = ensure_catalogue(settings)

    assert report is not None and report.source == str(source.path)
    assert report.tracks == 2


def test_the_command_imports_and_prints_the_report(
    mongo_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bluetrack import cli
    from bluetrack.catalogue import commands

    monkeypatch.setattr(commands, "get_settings", lambda: mongo_settings)

    code = cli.main(["import-catalogue", "--generate", "--seed", "5", "--per-genre", "2"])

    out = capsys.readouterr().out
    assert code == 0
    assert "genres from generated (seed 5, 2 rows per genre)" in out
    with connected(mongo_settings) as db:
        assert SongRepository(db).count() > 0


# --- the database factory -----------------------------------------------------------------------
def test_open_database_fails_fast_and_clearly_without_a_server(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(
        update={"mongodb_uri": "mongodb://127.0.0.1:1/", "mongodb_timeout_s": 0.5}
    )

    with pytest.raises(StoreUnavailable, match=r"no database at mongodb://127\.0\.0\.1:1/"):
        open_database(settings)


def test_index_hooks_run_against_the_database(
    mongo_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bluetrack.store import database

    monkeypatch.setattr(database, "_HOOKS", {})

    @index_hook("probe")
    def probe_indexes(db: Any) -> None:
        db.probe.create_index("name", unique=True, name="probe_name_unique")

    assert ensure_indexes(mongo_db) == ["probe"]
    assert ensure_indexes(mongo_db) == ["probe"]  # idempotent
    assert "probe_name_unique" in mongo_db.probe.index_information()
