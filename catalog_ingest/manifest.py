"""Read a catalog manifest (CSV/TSV, JSONL or Parquet, by extension) into numbered raw rows.

Only a file that cannot be read at all, or lacks the required columns, is a ``ManifestError``;
a single bad line becomes a ``RawRow`` with ``error`` set, so it is rejected, not fatal.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
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
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return list(_read_csv(path, CSV_SUFFIXES[suffix]))
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    known = ", ".join([*CSV_SUFFIXES, *JSONL_SUFFIXES, *PARQUET_SUFFIXES])
    raise ManifestError(
        f"{path}: unknown manifest type {suffix or '(no extension)'!r}; expected one of {known}"
    )


def _check_columns(path: Path, columns: list[str], where: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
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


def _read_csv(path: Path, delimiter: str) -> Iterator[RawRow]:
    line = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise ManifestError(f"{path}: empty file, expected a header line naming the columns")
            columns = [c.strip() for c in header]
            _check_columns(path, columns, "line 1: ")
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


def _read_jsonl(path: Path) -> list[RawRow]:
    rows: list[RawRow] = []
    columns: dict[str, None] = {}
    try:
        with path.open(encoding="utf-8-sig") as f:
            for number, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    rows.append(RawRow(number, error=f"invalid JSON ({exc.msg} at column {exc.colno})"))
                    continue
                if not isinstance(value, dict):
                    rows.append(RawRow(number, error=f"expected a JSON object, got {type(value).__name__}"))
                    continue
                columns.update(dict.fromkeys(value))
                rows.append(RawRow(number, {str(k).strip(): _clean(v) for k, v in value.items()}))
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    if rows and not columns:
        first = rows[0]
        raise ManifestError(f"{path}: line {first.number}: not a JSON Lines manifest: {first.error}")
    if rows:
        _check_columns(path, list(columns), "no row has ")
    return rows


def _read_parquet(path: Path) -> list[RawRow]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ManifestError(f"{path}: unreadable Parquet file ({exc})") from exc
    columns = [str(c).strip() for c in table.column_names]
    _check_columns(path, columns, "")
    return [
        RawRow(number, {c: _clean(v) for c, v in zip(columns, record.values(), strict=True)})
        for number, record in enumerate(table.to_pylist(), start=1)
    ]
