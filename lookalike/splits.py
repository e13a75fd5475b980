"""Seeded dataset splits that more than one stage must agree on.

The grocery classes are split into the classes the product embedder trains on and the classes it
never sees (``embedder.training``), which the held-out grocery benchmark measures.

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


def read_grocery_classes(grocery_dir: Path) -> dict[str, str]:
    """Fine class name -> coarse class name, in ``classes.csv`` order."""
    with (grocery_dir / "classes.csv").open(newline="", encoding="utf-8") as f:
        return {
            row["Class Name (str)"].strip(): row["Coarse Class Name (str)"].strip()
            for row in csv.DictReader(f)
        }


def split_grocery_classes(
    classes: dict[str, str], *, held_out_fraction: float = 1 / 3, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Seeded (training classes, held-out classes) of the grocery data, split by COARSE class: every
    variety of a held-out product (all apples, all oat milks...) is held out together, so the held-out
    benchmark measures products the embedder never saw, not a sibling variety of one it did."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction must be in (0, 1), not {held_out_fraction}")
    coarse = sorted(set(classes.values()))
    rng = random.Random(f"grocery-classes:{seed}")
    held = set(rng.sample(coarse, max(1, round(len(coarse) * held_out_fraction))))
    train = [name for name, c in classes.items() if c not in held]
    held_out = [name for name, c in classes.items() if c in held]
    return train, held_out


def grocery_held_out_classes(grocery_dir: Path) -> list[str]:
    """The fine classes the product embedder never trains on (``models/product-embedder``)."""
    return split_grocery_classes(read_grocery_classes(grocery_dir))[1]


__all__ = [
    "NOT_A_GARMENT",
    "clothing_benchmark_targets",
    "grocery_held_out_classes",
    "read_clothing_labels",
    "read_grocery_classes",
    "split_clothing_items",
    "split_grocery_classes",
]
