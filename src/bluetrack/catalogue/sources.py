"""Where catalogue rows come from: a CSV file, or the generator. Both give the same rows.

A source can be opened more than once (the import reads it twice), and each opening yields
the header and the records numbered by the line they start on, as a reader of the file
would count them (header = line 1).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from bluetrack.catalogue.exceptions import CatalogueFormatError, CatalogueSourceError
from bluetrack.catalogue.generate import generate_rows
from bluetrack.catalogue.rows import HEADER


class Table(NamedTuple):
    header: list[str]
    records: Iterator[tuple[int, list[str]]]  # (line number, fields); blank lines left out


class RowSource(Protocol):
    @property
    def label(self) -> str: ...

    def open(self) -> AbstractContextManager[Table]: ...


class _LineReader(Protocol):
    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...


@dataclass(frozen=True, slots=True)
class CsvSource:
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @contextmanager
    def open(self) -> Iterator[Table]:
        try:
            # utf-8-sig: a byte-order mark (Excel writes one) would otherwise stick to "".
            handle = self.path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise CatalogueSourceError(f"cannot read {self.path}: {exc.strerror}") from exc
        with handle:
            reader = csv.reader(handle)
            try:
                header = next(reader, None)
                if header is None:
                    raise CatalogueFormatError(f"{self.path} is empty")
                yield Table(header, _numbered(reader, self.path))
            except UnicodeDecodeError as exc:
                raise CatalogueFormatError(
                    f"{self.path}: not UTF-8 near line {reader.line_num + 1}"
                ) from exc


def _numbered(reader: _LineReader, path: Path) -> Iterator[tuple[int, list[str]]]:
    """Records with the line each starts on (a quoted field may span several lines)."""
    start = reader.line_num + 1
    try:
        for fields in reader:
            if fields:
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        raise CatalogueFormatError(f"{path}, line {start}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class GeneratedSource:
    """The invented catalogue, deterministic by seed, in the CSV's own shape."""

    seed: int
    per_genre: int

    @property
    def label(self) -> str:
        return f"generated (seed {self.seed}, {self.per_genre} rows per genre)"

    @contextmanager
    def open(self) -> Iterator[Table]:
        rows = generate_rows(self.seed, self.per_genre)
        yield Table(list(HEADER), ((line, fields) for line, fields in enumerate(rows, start=2)))
