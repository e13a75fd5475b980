"""A retailer's labelled photos: ``item_id,image`` rows, read and embedded for ``fit_adapter``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from embedder.base import Embedder
from lookalike.errors import ManifestError


def read_labelled_photos(path: Path) -> list[tuple[str, Path]]:
    """``(item_id, image)`` rows; relative images are relative to the file's folder."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such labelled-photos file")
    rows: list[tuple[str, Path]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"item_id", "image"} <= set(reader.fieldnames):
            raise ManifestError(f"{path}: needs the columns item_id,image")
        for line, row in enumerate(reader, start=2):
            item, image = (row.get("item_id") or "").strip(), (row.get("image") or "").strip()
            if not item or not image:
                raise ManifestError(f"{path}: line {line}: empty item_id or image")
            full = Path(image) if Path(image).is_absolute() else path.parent / image
            if not full.is_file():
                raise ManifestError(f"{path}: line {line}: {image} does not exist")
            rows.append((item, full))
    if not rows:
        raise ManifestError(f"{path}: no labelled photos")
    return rows


def embed_paths(embedder: Embedder, paths: list[Path], batch: int = 64) -> np.ndarray:
    """Each photo whole, in batches (an unreadable photo is a ``ManifestError`` naming it)."""
    out = []
    for start in range(0, len(paths), batch):
        images = []
        for p in paths[start : start + batch]:
            try:
                with Image.open(p) as img:
                    images.append(img.convert("RGB"))
            except (OSError, ValueError) as exc:
                raise ManifestError(f"{p}: not a readable image ({exc})") from exc
        out.append(embedder.embed_images(images))
    return np.concatenate(out)


__all__ = ["embed_paths", "read_labelled_photos"]
