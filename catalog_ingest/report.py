"""What an ingest run did: counts, rejected rows (also written to a CSV), the index version, and
where the data landed (a server reads the same data folder, or it will not see the catalog)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

REJECT_COLUMNS = ("row", "item_id", "image", "reason")
SHOW_UNREFERENCED = 3
"""Unreferenced files named in the summary; the report file lists every one."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A manifest row that was not loaded. ``row`` is its line (CSV: the header is line 1)."""

    row: int
    item_id: str
    image: str
    reason: str


@dataclass
class IngestReport:
    catalog: str
    rows: int = 0
    loaded_items: int = 0
    loaded_images: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejects: list[Reject] = field(default_factory=list)
    unreferenced_images: list[str] = field(default_factory=list)
    index_version: str | None = None
    elapsed_s: float = 0.0
    images_per_s: float = 0.0
    embedded_images: int = 0
    reused_images: int = 0
    indexed_vectors: int = 0
    published: bool = False
    validate_only: bool = False
    mode: str = "add"
    """``add``, ``upsert`` or ``sync`` (``catalog_ingest.feed``); the last two count below."""
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    rejects_path: Path | None = None
    unreferenced_path: Path | None = None
    """The file listing every unreferenced image (written only when there is one)."""
    data_dir: Path | None = None
    """The data folder written (absolute): indexes, reports and, unless ``database_url`` says
    otherwise, the database."""
    database: str | None = None
    """Where the catalog rows went: the SQLite file, or the database URL without its password."""

    def summary(self) -> str:
        mode = "validated" if self.validate_only else "loaded"
        lines = [
            f"catalog {self.catalog!r}: {self.rows} rows read in {self.elapsed_s:.1f} s",
            f"  {mode}: {self.loaded_items} items, {self.loaded_images} distinct images "
            f"({self.duplicates} rows repeat bytes already seen)",
            f"  rejected: {self.skipped} rows" + (f" (see {self.rejects_path})" if self.rejects_path else ""),
        ]
        if self.mode != "add" and not self.validate_only:
            lines.append(
                f"  {self.mode}: {self.added} added, {self.updated} updated, {self.removed} removed, "
                f"{self.unchanged} unchanged"
            )
        if not self.validate_only:
            lines.append(
                f"  embedded: {self.embedded_images} new images ({self.images_per_s:.1f} images/s), "
                f"reused {self.reused_images} already embedded"
            )
            if self.index_version is None:
                lines.append("  index: none (no region vectors in the catalog)")
            else:
                state = "published" if self.published else "unchanged, not republished"
                lines.append(f"  index: {self.index_version} ({self.indexed_vectors} vectors, {state})")
        if self.unreferenced_images:
            shown = ", ".join(self.unreferenced_images[:SHOW_UNREFERENCED])
            more = len(self.unreferenced_images) - SHOW_UNREFERENCED
            where = f"; all listed in {self.unreferenced_path}" if self.unreferenced_path else ""
            lines.append(
                f"  unreferenced: {len(self.unreferenced_images)} image files under the images root "
                f"that no row names ({shown}{f', {more} more' if more > 0 else ''}{where})"
            )
        if self.data_dir is not None and not self.validate_only:
            lines.append(f"  data folder: {self.data_dir} (database: {self.database})")
            lines.append(
                f"  a server sees this catalog when it reads the same folder: run `lookalike serve` here, "
                f"or set LOOKALIKE_DATA_DIR={self.data_dir}"
            )
        return "\n".join(lines)


def write_unreferenced(path: Path, names: list[str]) -> None:
    """One image path per line, relative to the images root."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    """Always written (header only when clean), so an old file never outlives its run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(REJECT_COLUMNS)
        writer.writerows((r.row, r.item_id, r.image, r.reason) for r in rejects)
