"""Seeded phone-screenshot queries (1-3 catalog products each) for the serving benchmarks."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from evaluation.synth.screenshot import compose_screenshot


@dataclass(frozen=True)
class Query:
    jpeg: bytes
    item_ids: tuple[str, ...]


def make_queries(manifest: Path, images_root: Path, n: int, seed: int = 11) -> list[Query]:
    with manifest.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (images_root / r["image"]).is_file()]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        picked = rng.sample(rows, rng.randint(1, 3))
        photos = [Image.open(images_root / r["image"]).convert("RGB") for r in picked]
        shot, _ = compose_screenshot(photos, rng)
        buf = io.BytesIO()
        shot.save(buf, "JPEG", quality=85)
        out.append(Query(buf.getvalue(), tuple(r["item_id"] for r in picked)))
    return out
