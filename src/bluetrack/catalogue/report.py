"""What an import did, for the person who ran it."""

from __future__ import annotations

from dataclasses import dataclass

from bluetrack.catalogue.rows import RowIssue


@dataclass(frozen=True, slots=True)
class ImportReport:
    source: str
    rows_read: int
    rows_merged: int  # rows folded into a track listed on an earlier line (other genre, repeat)
    tracks: int  # distinct tracks now in the store
    tracks_written: int  # inserted or replaced
    tracks_unchanged: int
    tracks_removed: int  # stored before, absent from this source
    genres: int
    shelved: int  # (genre, track) slots the shelves can pick from
    issues: tuple[RowIssue, ...]
    seconds: float

    @property
    def skipped(self) -> tuple[RowIssue, ...]:
        return tuple(issue for issue in self.issues if issue.action == "skipped")

    @property
    def changed_nothing(self) -> bool:
        return self.tracks_written == 0 and self.tracks_removed == 0

    def __str__(self) -> str:
        return (
            f"{self.tracks:,} tracks in {self.genres} genres from {self.source}: "
            f"{self.tracks_written:,} written, {self.tracks_unchanged:,} unchanged, "
            f"{self.tracks_removed:,} removed; {self.rows_read:,} rows read, "
            f"{self.rows_merged:,} merged, {len(self.skipped):,} skipped, "
            f"{len(self.issues) - len(self.skipped):,} other issues ({self.seconds:.1f} s)"
        )

    def lines(self, max_issues: int = 50) -> list[str]:
        """The summary, then one line per issue (at most ``max_issues``)."""
        shown = [f"  {issue}" for issue in self.issues[:max_issues]]
        hidden = len(self.issues) - len(shown)
        if hidden > 0:
            shown.append(f"  ... and {hidden:,} more")
        return [str(self), *shown]
