"""What the product embedder learns from: labelled product photos from the shared data.

Every sample names an *identity*: photos with the same identity show the same product. Grocery store
photos and the iconic web photo of their class share one (the shop-to-street pair the embedder must
bridge); each clothing photo and each worn garment box in a people photo is an identity of its own,
and its augmented views (``views.py``) are its other photos.

Never a benchmark query: grocery is read from ``train.txt`` only (val and test are the benchmarks')
and only for the training classes (``lookalike.splits.split_grocery_classes``); the clothing-screenshots
targets (``lookalike.splits.clothing_benchmark_targets``) are left out; people photos 0701-0800 (the
people-posts test split) are left out.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from lookalike.splits import (
    clothing_benchmark_targets,
    read_clothing_labels,
    read_grocery_classes,
    split_grocery_classes,
)

PEOPLE_TEST_FIRST = 701
"""The first people photo of the people-posts test split (``detector.training.people.SPLITS``)."""

PEOPLE_MIN_BOX_SIDE = 48
"""Worn garments smaller than this (a shoe in a full-length photo) carry too little to learn from."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One photo (or a box of it) and the identity it shows."""

    image: Path
    identity: str
    box: tuple[float, float, float, float] | None = None
    source: str = ""


def grocery_samples(grocery_dir: Path, classes: list[str], *, split: str = "train") -> list[Sample]:
    """The iconic photo and the ``split`` store photos of each of ``classes`` (identity = class name).

    Only ``train`` may be trained on; the held-out classes' ``train`` photos validate training."""
    if split != "train":
        raise ValueError(f"the grocery {split!r} split is a benchmark's: train on 'train' only")
    wanted = set(classes)
    names = list(read_grocery_classes(grocery_dir))
    out: list[Sample] = []
    with (grocery_dir / "classes.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = row["Class Name (str)"].strip()
            if name in wanted:
                iconic = grocery_dir / row["Iconic Image Path (str)"].strip().lstrip("/")
                out.append(Sample(iconic, f"grocery:{name}", source="grocery-iconic"))
    with (grocery_dir / f"{split}.txt").open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rel, fine, _coarse = (part.strip() for part in line.split(","))
            name = names[int(fine)]
            if name in wanted:
                out.append(Sample(grocery_dir / rel, f"grocery:{name}", source="grocery-store"))
    return out


def grocery_validation_samples(grocery_dir: Path, classes: list[str]) -> list[Sample]:
    """The iconic photo and the ``val/`` store photos of each of ``classes``: to choose the epoch of
    a training run on the same classes (never trained on; the benchmarks score the ``test`` split)."""
    wanted = set(classes)
    names = list(read_grocery_classes(grocery_dir))
    out = [s for s in grocery_samples(grocery_dir, classes) if s.source == "grocery-iconic"]
    with (grocery_dir / "val.txt").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rel, fine, _coarse = (part.strip() for part in line.split(","))
                if names[int(fine)] in wanted:
                    out.append(
                        Sample(grocery_dir / rel, f"grocery:{names[int(fine)]}", source="grocery-store")
                    )
    return out


def clothing_samples(clothing_dir: Path, limit: int | None = None) -> list[Sample]:
    """Clothing photos with a csv row, minus the clothing-screenshots targets; one identity each."""
    targets = clothing_benchmark_targets(clothing_dir)
    ids = sorted(i for i in read_clothing_labels(clothing_dir) if i not in targets)[:limit]
    return [Sample(clothing_dir / "images" / f"{i}.jpg", f"clothing:{i}", source="clothing") for i in ids]


def people_samples(people_dir: Path, limit: int | None = None) -> list[Sample]:
    """Worn-garment boxes of people photos 0001-0700 at least ``PEOPLE_MIN_BOX_SIDE`` px a side."""
    out: list[Sample] = []
    with (people_dir / "boxes.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            image = people_dir / rec["image"]
            if int(image.stem) >= PEOPLE_TEST_FIRST:
                continue
            for n, b in enumerate(rec["boxes"]):
                x1, y1, x2, y2 = b["box"]
                if min(x2 - x1, y2 - y1) >= PEOPLE_MIN_BOX_SIDE:
                    out.append(Sample(image, f"people:{image.stem}:{n}", (x1, y1, x2, y2), "people"))
    return out[:limit]


__all__ = [
    "PEOPLE_TEST_FIRST",
    "Sample",
    "clothing_samples",
    "grocery_samples",
    "grocery_validation_samples",
    "people_samples",
]


CLOTHING_VALIDATION = 200
"""Clothing photos (the last ones in id order) kept out of training to watch the same-photo case."""

CLOTHING_TRAINING = 600
PEOPLE_TRAINING = 600
"""Clothing photos and worn garments trained on (the first ones): the backbone cost of every view
is the whole budget on two shared cores (3-18 views/s measured), so the instance-level sources are
a regulariser beside the grocery classes, not the bulk."""


@dataclass(frozen=True)
class TrainingSplit:
    """What every embedder training run trains on and holds out (``limit``: a smoke run's cap)."""

    train: dict[str, list[Sample]]
    grocery_dir: Path
    train_classes: list[str]
    held_out_classes: list[str]
    clothing_validation: list[Sample]


def training_split(shared: Path, limit: int | None = None) -> TrainingSplit:
    """Training samples by source (grocery training classes, the first clothing photos, worn
    garments), the grocery class split, and the clothing photos kept for validation."""
    grocery_dir = shared / "data" / "grocery"
    train_classes, held_out = split_grocery_classes(read_grocery_classes(grocery_dir))
    clothing = clothing_samples(shared / "data" / "clothing")
    train = {
        "grocery": grocery_samples(grocery_dir, train_classes)[:limit],
        "clothing": clothing[:CLOTHING_TRAINING][:limit],
        "people": people_samples(shared / "data" / "people", min(limit or PEOPLE_TRAINING, PEOPLE_TRAINING)),
    }
    return TrainingSplit(train, grocery_dir, train_classes, held_out, clothing[-CLOTHING_VALIDATION:][:limit])
