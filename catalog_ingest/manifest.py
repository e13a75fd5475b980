"""Read a catalog manifest (CSV/TSV, JSONL or Parquet, by extension) into numbered raw rows.

Only a file that cannot be read at all, or lacks the required columns, is a ``ManifestError``;
a single bad line becomes a ``RawRow`` with ``error`` set, so it is rejected, not fatal.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.errors import ManifestError

REQUIRED_COLUMNS = ("item_id", "image")
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True, slots=True)
class RawRow:
    """One manifest record. ``number`` is its line (CSV: the header is line 1; Parquet: row 1..n)."""

    number: int
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def read_manifest(path: Path) -> list[RawRow]:
    """All rows of a manifest, or ``ManifestError`` naming the file (and line) when unreadable."""
    return list(iter_manifest(path))


def iter_manifest(path: Path, required: tuple[str, ...] = REQUIRED_COLUMNS) -> Iterator[RawRow]:
    """The rows one at a time, never the whole file in memory (a manifest of millions of rows).

    The header (CSV) or schema (Parquet) is checked before the first row; a JSON Lines file whose
    rows all lack a required column fails when the end is reached.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, CSV_SUFFIXES[suffix], required)
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path, required)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, required)
    known = ", ".join([*CSV_SUFFIXES, *JSONL_SUFFIXES, *PARQUET_SUFFIXES])
    raise ManifestError(
        f"{path}: unknown manifest type {suffix or '(no extension)'!r}; expected one of {known}"
    )


def _check_columns(path: Path, columns: list[str], where: str, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise ManifestError(
            f"{path}: {where}missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(columns) or 'no columns'}"
        )


def _clean(value: Any) -> Any:
    """Blank strings and NaN mean 'not given'."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> ManifestError:
    """Text is decoded in chunks, so find the offending line again for the message."""
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return ManifestError(f"{path}: line {number}: not UTF-8 text ({exc.reason})")
    return ManifestError(f"{path}: not UTF-8 text ({exc.reason})")


def _read_csv(path: Path, delimiter: str, required: tuple[str, ...]) -> Iterator[RawRow]:
    line = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise ManifestError(f"{path}: empty file, expected a header line naming the columns")
            columns = [c.strip() for c in header]
            _check_columns(path, columns, "line 1: ", required)
            line = reader.line_num
            while True:
                start = line + 1
                record = next(reader, None)
                line = reader.line_num
                if record is None:
                    return
                if not any(v.strip() for v in record):
                    continue  # blank line
                if len(record) > len(columns):
                    yield RawRow(
                        start, error=f"{len(record)} values but the header names {len(columns)} columns"
                    )
                    continue
                yield RawRow(start, {c: _clean(v) for c, v in zip(columns, record, strict=False) if c})
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    except csv.Error as exc:
        raise ManifestError(f"{path}: line {line + 1}: unreadable CSV ({exc})") from exc


def _read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[RawRow]:
    # Bad lines before the first JSON object wait in ``held``: a file with no object at all is
    # not a JSON Lines manifest (an error), one with some is (its bad lines are rejects).
    held: list[RawRow] = []
    columns: dict[str, None] = {}
    try:
        with path.open(encoding="utf-8-sig") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                row = _jsonl_row(number, text)
                if row.error is None:
                    columns.update(dict.fromkeys(row.values))
                if not columns:
                    held.append(row)
                    continue
                yield from held
                held.clear()
                yield row
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    if held:
        raise ManifestError(f"{path}: line {held[0].number}: not a JSON Lines manifest: {held[0].error}")
    if columns:
        _check_columns(path, list(columns), "no row has ", required)


def _jsonl_row(number: int, text: str) -> RawRow:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return RawRow(number, error=f"invalid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(value, dict):
        return RawRow(number, error=f"expected a JSON object, got {type(value).__name__}")
    return RawRow(number, {str(k).strip(): _clean(v) for k, v in value.items()})


def _read_parquet(path: Path, required: tuple[str, ...]) -> Iterator[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ManifestError(f"{path}: unreadable Parquet file ({exc})") from exc
    columns = [str(c).strip() for c in parquet.schema_arrow.names]
    _check_columns(path, columns, "", required)
    return _parquet_rows(path, parquet, columns)


def _parquet_rows(path: Path, parquet: Any, columns: list[str]) -> Iterator[RawRow]:
    import pyarrow as pa

    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=4096):
            for record in batch.to_pylist():
                number += 1
                yield RawRow(number, {c: _clean(v) for c, v in zip(columns, record.values(), strict=True)})
    except (pa.ArrowException, OSError) as exc:
        raise ManifestError(f"{path}: unreadable Parquet file ({exc})") from exc


def chunked(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    """Rows in lists of ``size`` (the last may be shorter): a streamed manifest processed a
    batch at a time without ever holding it whole."""
    chunk: list[RawRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
