"""Seeded dataset splits that more than one stage must agree on.

The clothing-screenshots benchmark (``evaluation``) holds back a seeded set of garments as its
query targets, and the detector's training data (``detector.training``) must never contain
them. Both read the split from here, so they cannot drift apart and the detector never
depends on the evaluation code.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

NOT_A_GARMENT = frozenset({"Not sure", "Skip", "Other"})
"""Labels of the shared clothing data that name no garment: never a benchmark target."""


def read_clothing_labels(clothing_dir: Path) -> dict[str, str]:
    """item id -> label, for ``images.csv`` rows whose photo exists (upstream has 5 rows without one)."""
    items: dict[str, str] = {}
    with (clothing_dir / "images.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (clothing_dir / "images" / f"{row['image']}.jpg").is_file():
                items[row["image"]] = row["label"]
    return items


def split_clothing_items(
    items: dict[str, str], held_back: int, catalog_size: int, seed: int
) -> tuple[list[str], list[str]]:
    """Seeded targets (real garments only) and distractor catalog items (anything else listed).

    Raises ``ValueError`` when the sizes do not fit the data."""
    if held_back < 1 or catalog_size < held_back:
        raise ValueError(f"need 1 <= held_back ({held_back}) <= catalog_size ({catalog_size})")
    rng = random.Random(seed)
    garments = sorted(i for i, label in items.items() if label not in NOT_A_GARMENT)
    if held_back > len(garments) or catalog_size > len(items):
        raise ValueError(f"only {len(garments)} garments and {len(items)} items with photos are available")
    targets = rng.sample(garments, held_back)
    chosen = set(targets)
    rest = sorted(i for i in items if i not in chosen)
    return targets, rng.sample(rest, catalog_size - held_back)


def clothing_benchmark_targets(
    clothing_dir: Path, *, held_back: int = 200, catalog_size: int = 2000, seed: int = 0
) -> set[str]:
    """The held-back target items of the clothing-screenshots benchmark built with these settings
    (its defaults: 200 targets in a 2,000-item catalog, seed 0)."""
    targets, _ = split_clothing_items(read_clothing_labels(clothing_dir), held_back, catalog_size, seed)
    return set(targets)


__all__ = ["NOT_A_GARMENT", "clothing_benchmark_targets", "read_clothing_labels", "split_clothing_items"]
