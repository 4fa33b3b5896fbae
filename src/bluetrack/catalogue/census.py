"""The first pass: which tracks exist, in which genres, and which row describes each.

Only small facts are kept per track (first line, a fingerprint, the best popularity, the
genre set), so the whole file is never held as documents; the second pass streams them.

Merging rules for the rows of one track id:

* genres: the union, stored sorted;
* popularity: the **maximum** over the rows (the rows of one track differ in popularity only
  because they were fetched at different times; the highest is the track's best standing);
* everything else: taken from the track's **first** row; a later row that describes the
  track differently (not just genre/popularity) is reported as merged into the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bluetrack.catalogue.rows import RowIssue, RowKey, RowParser
from bluetrack.catalogue.sources import RowSource

PROGRESS_EVERY = 2000  # rows between progress updates: a bar redraw per row would dominate


@dataclass(slots=True)
class TrackGroup:
    """What pass one knows about a track id."""

    first_line: int
    fingerprint: int
    popularity: int
    duration_ms: int
    playable: bool
    genres: set[str]


@dataclass
class Census:
    groups: dict[str, TrackGroup] = field(default_factory=dict)
    rows_read: int = 0
    rows_merged: int = 0  # rows folded into a track listed on an earlier line
    issues: list[RowIssue] = field(default_factory=list)

    def add(self, line: int, key: RowKey) -> None:
        group = self.groups.get(key.track_id)
        if group is None:
            genres = {key.genre}
            self.groups[key.track_id] = TrackGroup(
                line, key.fingerprint, key.popularity, key.duration_ms, key.playable, genres
            )
            return
        self.rows_merged += 1
        group.genres.add(key.genre)
        group.popularity = max(group.popularity, key.popularity)
        if key.fingerprint != group.fingerprint:
            problem = f"describes the track differently than line {group.first_line}"
            self.issues.append(
                RowIssue(line, key.track_id, problem, f"merged: line {group.first_line} kept")
            )

    def shelves(self) -> dict[str, list[tuple[str, int]]]:
        """Each genre's playable tracks as (id, duration), sorted by id: the shelf numbering."""
        members: dict[str, list[tuple[str, int]]] = {}
        for track_id, group in self.groups.items():
            if group.playable:
                for genre in group.genres:
                    members.setdefault(genre, []).append((track_id, group.duration_ms))
        return {genre: sorted(tracks) for genre, tracks in sorted(members.items())}

    @property
    def genres(self) -> set[str]:
        return {genre for group in self.groups.values() for genre in group.genres}


def take_census(source: RowSource, tick: Callable[[int], None] = lambda _: None) -> Census:
    """Read every row once; ``tick(n)`` is called every PROGRESS_EVERY rows."""
    census = Census()
    with source.open() as table:
        parser = RowParser(table.header)
        for line, fields in table.records:
            census.rows_read += 1
            key = parser.identify(line, fields)
            if isinstance(key, RowIssue):
                census.issues.append(key)
            else:
                census.add(line, key)
            if census.rows_read % PROGRESS_EVERY == 0:
                tick(PROGRESS_EVERY)
    tick(census.rows_read % PROGRESS_EVERY)
    return census
