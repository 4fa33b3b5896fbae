"""Parsing, repairing and merging catalogue rows, on small CSV snippets written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluetrack.catalogue.census import Census, take_census
from bluetrack.catalogue.exceptions import CatalogueFormatError, CatalogueSourceError
from bluetrack.catalogue.importer import stream_tracks
from bluetrack.catalogue.rows import HEADER, RowIssue, RowParser, split_artists
from bluetrack.catalogue.sources import CsvSource
from bluetrack.store.songs import Track

HEADER_LINE = ",".join(HEADER)
FEATURES = "0.676,0.461,1,-6.746,0,0.143,0.0322,1.01e-06,0.358,0.715,87.917,4"
ID_A = "5SuOikwiRyPMVoIQDJUgSV"
ID_B = "4qPNDBW1i3p13qLCt0Ki3A"
ID_C = "1iJBSr7s7jYXzM8EGcbK5b"


def row(
    index: int,
    track_id: str = ID_A,
    *,
    artists: str = "Gen Hoshino",
    album: str = "Comedy",
    name: str = "Comedy",
    popularity: str = "73",
    duration: str = "230666",
    explicit: str = "False",
    features: str = FEATURES,
    genre: str = "acoustic",
) -> str:
    return ",".join(
        [
            str(index),
            track_id,
            artists,
            album,
            name,
            popularity,
            duration,
            explicit,
            features,
            genre,
        ]
    )


def csv_file(tmp_path: Path, *lines: str, header: str = HEADER_LINE) -> CsvSource:
    path = tmp_path / "tracks.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return CsvSource(path)


def imported(source: CsvSource) -> tuple[Census, dict[str, Track], list[RowIssue]]:
    census = take_census(source)
    issues = list(census.issues)
    tracks = {track.track_id: track for track in stream_tracks(source, census, issues)}
    return census, tracks, sorted(issues, key=lambda issue: issue.line)


# --- one row ----------------------------------------------------------------------------------
def test_a_clean_row_becomes_a_track(tmp_path: Path) -> None:
    census, tracks, issues = imported(csv_file(tmp_path, row(0)))

    track = tracks[ID_A]
    assert (track.name, track.album, track.artists) == ("Comedy", "Comedy", ("Gen Hoshino",))
    assert (track.duration_ms, track.explicit, track.popularity) == (230666, False, 73)
    assert track.genres == ("acoustic",)
    assert track.features == (
        0.676,
        0.461,
        1,
        -6.746,
        0,
        0.143,
        0.0322,
        1.01e-06,
        0.358,
        0.715,
        87.917,
        4,
    )
    assert isinstance(track.features[2], int)  # key, mode, time_signature are whole numbers
    assert issues == []
    assert census.rows_read == 1


def test_quoted_commas_and_doubled_quotes_are_one_field(tmp_path: Path) -> None:
    album = '"Cover Sessions, Vol. 4"'
    name = '"Speak Your Mind (From the Netflix Series ""We The People"")"'
    _, tracks, issues = imported(csv_file(tmp_path, row(0, album=album, name=name)))

    assert tracks[ID_A].album == "Cover Sessions, Vol. 4"
    assert tracks[ID_A].name == 'Speak Your Mind (From the Netflix Series "We The People")'
    assert issues == []


def test_several_artists_are_split_on_semicolons_and_trimmed() -> None:
    assert split_artists("Ingrid Michaelson;ZAYN") == ("Ingrid Michaelson", "ZAYN")
    assert split_artists(" Terra ; ;Kina Grannis;") == ("Terra", "Kina Grannis")
    assert split_artists("") == ()


def test_names_lose_surrounding_whitespace(tmp_path: Path) -> None:
    _, tracks, _ = imported(csv_file(tmp_path, row(0, name="Comedy  ", artists="Terra ")))

    assert tracks[ID_A].name == "Comedy"
    assert tracks[ID_A].artists == ("Terra",)


def test_the_empty_name_row_is_kept_but_off_the_shelves(tmp_path: Path) -> None:
    empty = row(65900, ID_C, artists="", album="", name="", popularity="0", duration="0")
    census, tracks, issues = imported(
        csv_file(tmp_path, row(0), empty, row(1, ID_B, genre="k-pop"))
    )

    assert not tracks[ID_C].playable
    assert (tracks[ID_C].name, tracks[ID_C].artists) == ("", ())
    assert issues == [
        RowIssue(
            3,
            ID_C,
            "empty artists, album_name, track_name; duration_ms 0",
            "kept off the shelves",
        )
    ]
    assert census.shelves() == {"acoustic": [(ID_A, 230666)], "k-pop": [(ID_B, 230666)]}


def test_a_multi_line_field_reports_the_line_the_row_starts_on(tmp_path: Path) -> None:
    bad = row(1, ID_B, name='"Two\nLines"', popularity="abc")
    _, _, issues = imported(csv_file(tmp_path, row(0), bad, row(2, ID_C, popularity="x")))

    assert [(issue.line, issue.track_id) for issue in issues] == [(3, ID_B), (5, ID_C)]


# --- bad rows ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"popularity": "abc"}, "popularity 'abc' is not a number"),
        ({"popularity": "101"}, "popularity 101 outside 0..100"),
        ({"duration": "-5"}, "negative duration_ms -5"),
        ({"duration": "3.5"}, "duration_ms '3.5' is not a whole number"),
        ({"explicit": "maybe"}, "explicit 'maybe' is neither True nor False"),
        ({"genre": ""}, "empty track_genre"),
        ({"track_id": "has space"}, "track_id 'has space' is not an identifier"),
    ],
)
def test_a_row_with_unreadable_core_fields_is_skipped_with_its_line(
    tmp_path: Path, change: dict[str, str], problem: str
) -> None:
    fields = {"track_id": ID_B, **change}
    _, tracks, issues = imported(csv_file(tmp_path, row(0), row(1, **fields)))

    assert list(tracks) == [ID_A]
    assert issues == [RowIssue(3, fields["track_id"], problem, "skipped")]


def test_a_row_with_the_wrong_number_of_fields_is_skipped(tmp_path: Path) -> None:
    _, tracks, issues = imported(csv_file(tmp_path, row(0), row(1, ID_B) + ",extra"))

    assert list(tracks) == [ID_A]
    assert issues == [RowIssue(3, None, "22 fields instead of 21", "skipped")]


def test_a_missing_track_id_is_skipped(tmp_path: Path) -> None:
    _, _, issues = imported(csv_file(tmp_path, row(0, "")))

    assert issues == [RowIssue(2, None, "empty track_id", "skipped")]


def test_unreadable_audio_features_are_stored_as_null(tmp_path: Path) -> None:
    features = FEATURES.replace("0.676", "NA").replace("87.917", "nan").replace(",4", ",x", 1)
    _, tracks, issues = imported(csv_file(tmp_path, row(0, features=features)))

    values = dict(
        zip(
            ("danceability", "tempo"),
            (tracks[ID_A].features[0], tracks[ID_A].features[10]),
            strict=True,
        )
    )
    assert values == {"danceability": None, "tempo": None}
    assert tracks[ID_A].features[-1] is None  # time_signature "x"
    assert [(issue.line, issue.action) for issue in issues] == [(2, "repaired: stored as null")]
    assert "danceability, tempo, time_signature" in issues[0].problem


def test_tolerated_spellings_of_numbers_and_booleans(tmp_path: Path) -> None:
    # As other tools write the same file: R's TRUE, "230666.0" for an integer.
    _, tracks, issues = imported(csv_file(tmp_path, row(0, duration="230666.0", explicit="TRUE")))

    assert (tracks[ID_A].duration_ms, tracks[ID_A].explicit) == (230666, True)
    assert issues == []


def test_a_skipped_row_does_not_add_its_genre(tmp_path: Path) -> None:
    bad = row(1, genre="pop", popularity="oops")
    census, tracks, _ = imported(csv_file(tmp_path, row(0), bad))

    assert tracks[ID_A].genres == ("acoustic",)
    assert census.genres == {"acoustic"}


# --- merging ----------------------------------------------------------------------------------
def test_rows_of_one_track_in_several_genres_merge_into_one(tmp_path: Path) -> None:
    source = csv_file(
        tmp_path,
        row(0, genre="pop", popularity="40"),
        row(1, ID_B, genre="pop"),
        row(2, genre="acoustic", popularity="73"),
        row(3, genre="chill", popularity="12"),
    )
    census, tracks, issues = imported(source)

    assert sorted(tracks) == sorted([ID_A, ID_B])
    assert tracks[ID_A].genres == ("acoustic", "chill", "pop")  # sorted
    assert tracks[ID_A].popularity == 73  # the maximum over the rows
    assert (census.rows_read, census.rows_merged) == (4, 2)
    assert issues == []


def test_a_repeated_row_merges_without_an_issue(tmp_path: Path) -> None:
    census, tracks, issues = imported(csv_file(tmp_path, row(0), row(1)))

    assert tracks[ID_A].genres == ("acoustic",)
    assert census.rows_merged == 1
    assert issues == []


def test_a_row_describing_the_track_differently_is_merged_into_the_first(tmp_path: Path) -> None:
    source = csv_file(tmp_path, row(0, album="First"), row(1, album="Second", genre="pop"))
    _, tracks, issues = imported(source)

    assert tracks[ID_A].album == "First"
    assert tracks[ID_A].genres == ("acoustic", "pop")
    assert issues == [
        RowIssue(3, ID_A, "describes the track differently than line 2", "merged: line 2 kept")
    ]


def test_shelves_list_each_genre_by_sorted_track_id(tmp_path: Path) -> None:
    source = csv_file(
        tmp_path,
        row(0, ID_A),
        row(1, ID_B, duration="1000"),
        row(2, ID_C, duration="2000"),
        row(3, ID_A, genre="pop"),
    )
    census = take_census(source)

    assert census.shelves() == {
        "acoustic": [(ID_C, 2000), (ID_B, 1000), (ID_A, 230666)],  # "1i.." < "4q.." < "5S.."
        "pop": [(ID_A, 230666)],
    }


# --- the file itself --------------------------------------------------------------------------
def test_missing_columns_are_named_in_a_clear_error(tmp_path: Path) -> None:
    header = HEADER_LINE.replace(",popularity", "").replace(",tempo", "")

    with pytest.raises(CatalogueFormatError, match="the header lacks popularity, tempo"):
        take_census(csv_file(tmp_path, header=header))


def test_the_per_genre_files_header_without_the_index_column_works(tmp_path: Path) -> None:
    header = HEADER_LINE.removeprefix(",")
    _, tracks, issues = imported(csv_file(tmp_path, row(0).split(",", 1)[1], header=header))

    assert list(tracks) == [ID_A]
    assert issues == []


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text(
        "\ufeff" + HEADER_LINE.removeprefix(",") + "\n" + row(0).split(",", 1)[1] + "\n"
    )

    assert take_census(CsvSource(path)).rows_read == 1


def test_an_empty_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(CatalogueFormatError, match="is empty"):
        take_census(CsvSource(path))


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueSourceError, match="cannot read"):
        take_census(CsvSource(tmp_path / "nope.csv"))


def test_a_file_that_is_not_utf8_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER_LINE + "\n" + row(0, name="Caf\xe9") + "\n").encode("latin-1"))

    with pytest.raises(CatalogueFormatError, match="not UTF-8"):
        take_census(CsvSource(path))


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    census = take_census(csv_file(tmp_path, row(0), "", row(1, ID_B)))

    assert census.rows_read == 2
    assert census.issues == []


def test_the_parser_accepts_any_column_order() -> None:
    header = list(reversed(HEADER))
    fields = list(reversed(row(0).split(",")))
    parsed, issues = RowParser(header).parse(2, fields)

    assert parsed is not None
    assert (parsed.track_id, parsed.genre, parsed.duration_ms) == (ID_A, "acoustic", 230666)
    assert issues == []
