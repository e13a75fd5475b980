"""Catalog photos with categories: from a manifest CSV or straight from the clothing dataset."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class CatalogPhoto:
    item_id: str
    path: Path
    category: str


def read_manifest(manifest: Path, images_root: Path | None = None) -> list[CatalogPhoto]:
    """Rows of a catalog CSV with at least ``item_id,image,category``; missing files are skipped.

    Relative image paths resolve against ``images_root`` (default: the manifest's folder).
    """
    root = images_root if images_root is not None else manifest.parent
    photos: list[CatalogPhoto] = []
    with manifest.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"item_id", "image", "category"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{manifest}: missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            item_id, image, category = (
                (row["item_id"] or "").strip(),
                (row["image"] or "").strip(),
                row["category"],
            )
            if not item_id or not image:
                raise ValueError(f"{manifest}:{line}: empty item_id or image")
            path = Path(image) if Path(image).is_absolute() else root / image
            if path.is_file():
                photos.append(CatalogPhoto(item_id, path, (category or "").strip()))
    return photos


def read_clothing_dir(clothing_dir: Path) -> list[CatalogPhoto]:
    """The shared clothing dataset (``images.csv``: image,sender_id,label,kids) as catalog photos.

    Item id = image id, as the catalog ingest and the evaluation use it. Rows without a file are skipped.
    """
    photos: list[CatalogPhoto] = []
    with (clothing_dir / "images.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = clothing_dir / "images" / f"{row['image']}.jpg"
            if path.is_file():
                photos.append(CatalogPhoto(row["image"], path, row["label"].strip()))
    return photos


def read_item_ids(path: Path) -> set[str]:
    """Item ids, one a line (a CSV with an ``item_id`` column also works)."""
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if lines and "item_id" in lines[0].split(","):
        col = lines[0].split(",").index("item_id")
        return {ln.split(",")[col].strip() for ln in lines[1:]}
    return set(lines)


def without(photos: Iterable[CatalogPhoto], excluded: set[str]) -> list[CatalogPhoto]:
    return [p for p in photos if p.item_id not in excluded]
