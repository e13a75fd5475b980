"""What an ingest run did: counts, rejected rows (also written to a CSV), the index version."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

REJECT_COLUMNS = ("row", "item_id", "image", "reason")


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
    rejects_path: Path | None = None

    def summary(self) -> str:
        mode = "validated" if self.validate_only else "loaded"
        lines = [
            f"catalog {self.catalog!r}: {self.rows} rows read in {self.elapsed_s:.1f} s",
            f"  {mode}: {self.loaded_items} items, {self.loaded_images} distinct images "
            f"({self.duplicates} rows repeat bytes already seen)",
            f"  rejected: {self.skipped} rows" + (f" (see {self.rejects_path})" if self.rejects_path else ""),
        ]
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
            lines.append(f"  unreferenced: {len(self.unreferenced_images)} image files under the images root")
        return "\n".join(lines)


def write_rejects(path: Path, rejects: list[Reject]) -> None:
    """Always written (header only when clean), so an old file never outlives its run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(REJECT_COLUMNS)
        writer.writerows((r.row, r.item_id, r.image, r.reason) for r in rejects)
