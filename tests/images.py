"""Real image bytes for tests: shared clothing photos and crafted edge cases."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CLOTHING = SHARED / "data" / "clothing"
CLOTHING_IMAGES = CLOTHING / "images"


def clothing_photos(n: int, start: int = 0) -> list[Path]:
    """The first ``n`` clothing photos that have a csv row, in a stable order."""
    import csv

    with (CLOTHING / "images.csv").open(newline="") as f:
        ids = [row["image"] for row in csv.DictReader(f)]
    paths = [CLOTHING_IMAGES / f"{i}.jpg" for i in ids]
    return [p for p in paths if p.is_file()][start : start + n]


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()
