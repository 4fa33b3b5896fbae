"""One CSV row of the Spotify tracks dataset -> a checked ``TrackRow``, or the reason it was not.

Policy (the file and its quirks are described in docs/catalogue.md):

* a row whose identity or core numbers cannot be read (track id, genre, duration, popularity,
  explicit, number of fields) is **skipped**: it is probably shifted or truncated, so none of
  its values can be trusted;
* an audio feature that is empty or not a number is stored as ``None`` (**repaired**);
* empty names are kept as empty strings and a duration of 0 is kept, but such a track can
  never be played, so it is **kept off the shelves** (the real file has one: index 65900);
* surrounding whitespace is stripped from names and from each of the ``;``-joined artists.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from bluetrack.catalogue.exceptions import CatalogueFormatError
from bluetrack.store.songs import FEATURES, INT_FEATURES, MAX_TEXT, FeatureValue

CORE_COLUMNS: tuple[str, ...] = (
    "track_id",
    "artists",
    "album_name",
    "track_name",
    "popularity",
    "duration_ms",
    "explicit",
)
GENRE_COLUMN = "track_genre"
# The Kaggle file's header: an unnamed pandas index, then the named columns.
HEADER: tuple[str, ...] = ("", *CORE_COLUMNS, *FEATURES, GENRE_COLUMN)
REQUIRED_COLUMNS: tuple[str, ...] = (*CORE_COLUMNS, *FEATURES, GENRE_COLUMN)

MAX_ID = 64  # the protocol's limit on track ids and genre names
MAX_ARTISTS = 64  # the protocol's limit; the real file has at most 38
TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})
_SPACE = re.compile(r"\s")


class RowKey(NamedTuple):
    """What the first pass needs from a row: which track, which genre, and how to merge it."""

    track_id: str
    genre: str
    popularity: int
    duration_ms: int
    playable: bool
    fingerprint: int  # of the raw fields that describe the track; equal rows, equal prints


class TrackRow(NamedTuple):
    """One readable row: a track as listed under one genre."""

    line: int
    track_id: str
    genre: str
    name: str
    artists: tuple[str, ...]
    album: str
    popularity: int
    duration_ms: int
    explicit: bool
    features: tuple[FeatureValue, ...]

    @property
    def playable(self) -> bool:
        """A track can be offered on a shelf only if it has a name and a length."""
        return self.duration_ms > 0 and bool(self.name)

    def description(self) -> tuple[object, ...]:
        """Everything that should be equal across the rows of one track (not genre/popularity)."""
        return (self.name, self.artists, self.album, self.duration_ms, self.explicit, self.features)


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A row the import could not take as it was: where, what, and what was done about it."""

    line: int
    track_id: str | None
    problem: str
    action: str  # "skipped", "repaired", "kept off the shelves", "merged"

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.track_id})" if self.track_id else "")
        return f"{where}: {self.problem} -> {self.action}"


class BadRow(Exception):
    """Internal: a field that makes the whole row unusable."""


class RowParser:
    """Parses the rows of one file, knowing where each column sits in its header.

    ``identify`` (first pass, every row) checks only what decides whether and how a row is
    merged; ``parse`` (second pass, one row per track) reads everything. Both read fields by
    position, and ``parse`` tries the fast path (every feature a finite number) first.
    """

    def __init__(self, header: Sequence[str]) -> None:
        names = [name.strip() for name in header]
        missing = [column for column in REQUIRED_COLUMNS if column not in names]
        if missing:
            raise CatalogueFormatError(
                "not a Spotify tracks CSV: the header lacks " + ", ".join(missing)
            )
        self._width = len(names)
        at = {column: names.index(column) for column in REQUIRED_COLUMNS}
        self._core = tuple(at[column] for column in CORE_COLUMNS)
        self._genre = at[GENRE_COLUMN]
        self._features = tuple(at[name] for name in FEATURES)
        self._whole = tuple(i for i, name in enumerate(FEATURES) if name in INT_FEATURES)
        # Everything but the index, popularity and genre: what duplicate rows should share.
        described = [at[c] for c in (*CORE_COLUMNS, *FEATURES) if c != "popularity"]
        self._described = operator.itemgetter(*described)

    @property
    def id_column(self) -> int:
        return self._core[0]

    def identify(self, line: int, fields: Sequence[str]) -> RowKey | RowIssue:
        """The cheap check of the first pass: the row's key fields, or why it is skipped."""
        if len(fields) != self._width:
            return RowIssue(line, None, f"{len(fields)} fields instead of {self._width}", "skipped")
        track_id = fields[self._core[0]].strip()
        try:
            genre, popularity, duration_ms = self._key_fields(track_id, fields)
        except BadRow as exc:
            return RowIssue(line, track_id or None, str(exc), "skipped")
        playable = duration_ms > 0 and bool(fields[self._core[3]].strip())
        fingerprint = hash(self._described(fields))
        return RowKey(track_id, genre, popularity, duration_ms, playable, fingerprint)

    def parse(self, line: int, fields: Sequence[str]) -> tuple[TrackRow | None, list[RowIssue]]:
        """The whole row, or None if it had to be skipped; plus what was wrong with it."""
        if len(fields) != self._width:
            problem = f"{len(fields)} fields instead of {self._width}"
            return None, [RowIssue(line, None, problem, "skipped")]
        track_id = fields[self._core[0]].strip()
        try:
            genre, popularity, duration_ms = self._key_fields(track_id, fields)
        except BadRow as exc:
            return None, [RowIssue(line, track_id or None, str(exc), "skipped")]
        _, i_artists, i_album, i_name, _, _, i_explicit = self._core
        row = TrackRow(
            line,
            track_id,
            genre,
            fields[i_name].strip()[:MAX_TEXT],
            split_artists(fields[i_artists]),
            fields[i_album].strip()[:MAX_TEXT],
            popularity,
            duration_ms,
            _flag("explicit", fields[i_explicit]),
            self._feature_values(fields),
        )
        if row.playable and None not in row.features:
            return row, []
        return row, _repairs(row)

    def _key_fields(self, track_id: str, fields: Sequence[str]) -> tuple[str, int, int]:
        _check_key("track_id", track_id)
        genre = fields[self._genre].strip()
        _check_key(GENRE_COLUMN, genre)
        popularity = _whole_number("popularity", fields[self._core[4]])
        if not 0 <= popularity <= 100:
            raise BadRow(f"popularity {popularity} outside 0..100")
        duration_ms = _whole_number("duration_ms", fields[self._core[5]])
        if duration_ms < 0:
            raise BadRow(f"negative duration_ms {duration_ms}")
        _flag("explicit", fields[self._core[6]])
        return genre, popularity, duration_ms

    def _feature_values(self, fields: Sequence[str]) -> tuple[FeatureValue, ...]:
        try:
            numbers = [float(fields[i]) for i in self._features]
        except ValueError:
            return self._careful_features(fields)
        if not math.isfinite(sum(numbers)):  # one NaN or inf spoils the sum: rare, so check then
            return self._careful_features(fields)
        values: list[FeatureValue] = list(numbers)
        for i in self._whole:
            number = numbers[i]
            values[i] = int(number) if number.is_integer() else None
        return tuple(values)

    def _careful_features(self, fields: Sequence[str]) -> tuple[FeatureValue, ...]:
        values: list[FeatureValue] = []
        for position, i in enumerate(self._features):
            number = _number(fields[i])
            if number is None or not math.isfinite(number):
                values.append(None)
            elif position in self._whole:
                values.append(int(number) if number.is_integer() else None)
            else:
                values.append(number)
        return tuple(values)


def _repairs(row: TrackRow) -> list[RowIssue]:
    issues: list[RowIssue] = []
    unreadable = [name for name, value in zip(FEATURES, row.features, strict=True) if value is None]
    if unreadable:
        problem = "unreadable " + ", ".join(unreadable)
        issues.append(RowIssue(row.line, row.track_id, problem, "repaired: stored as null"))
    if not row.playable:
        issues.append(RowIssue(row.line, row.track_id, _unplayable(row), "kept off the shelves"))
    return issues


def split_artists(value: str) -> tuple[str, ...]:
    """``"A;B ; "`` -> ``("A", "B")``: the file joins several artists with ';'."""
    artists = (artist.strip() for artist in value.split(";"))
    return tuple(artist[:MAX_TEXT] for artist in artists if artist)[:MAX_ARTISTS]


def _unplayable(row: TrackRow) -> str:
    named = (("artists", row.artists), ("album_name", row.album), ("track_name", row.name))
    empty = [column for column, value in named if not value]
    parts = [f"empty {', '.join(empty)}"] if empty else []
    if row.duration_ms == 0:
        parts.append("duration_ms 0")
    return "; ".join(parts)


def _check_key(column: str, value: str) -> None:
    if not value:
        raise BadRow(f"empty {column}")
    if len(value) > MAX_ID or _SPACE.search(value):
        raise BadRow(f"{column} {value[:80]!r} is not an identifier")


def _whole_number(column: str, value: str) -> int:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)  # "230666.0", as some tools write integers
    except ValueError:
        raise BadRow(f"{column} {text[:40]!r} is not a number") from None
    if not number.is_integer():
        raise BadRow(f"{column} {text[:40]!r} is not a whole number")
    return int(number)


def _flag(column: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise BadRow(f"{column} {value[:40]!r} is neither True nor False")


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None  # "", "NA", garbage: unknown, not a reason to lose the track
