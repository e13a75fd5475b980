"""The shared people photos (Clothing Co-Parsing): worn-garment boxes, read and split by photo number.

Photos 0701-0800 are the test split: never trained on, only measured (the people-posts benchmark
and the model card's per-class figures). The split lives here alone so training and evaluation
cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from detector.training.classes import ClassMap
from detector.training.draw import Label

SPLITS: dict[str, range] = {"train": range(1, 651), "val": range(651, 701), "test": range(701, 801)}


@dataclass(frozen=True, slots=True)
class WornBox:
    """One garment (or one shoe) on a person: pixels of the stored photo and its dataset label."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str


@dataclass(frozen=True, slots=True)
class PeoplePhoto:
    number: int
    path: Path
    width: int
    height: int
    boxes: tuple[WornBox, ...]


def read_people(people_dir: Path) -> list[PeoplePhoto]:
    """Every row of ``boxes.jsonl``; a malformed row or a missing photo is an error naming its line."""
    listing = people_dir / "boxes.jsonl"
    photos: list[PeoplePhoto] = []
    for line, text in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        where = f"{listing}:{line}"
        try:
            row = json.loads(text)
            path = people_dir / row["image"]
            width, height = int(row["width"]), int(row["height"])
            boxes = tuple(_worn_box(b, width, height, where) for b in row["boxes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad row ({exc})") from exc
        if not path.is_file():
            raise ValueError(f"{where}: {path} is missing")
        photos.append(PeoplePhoto(int(Path(row["image"]).stem), path, width, height, boxes))
    return photos


def _worn_box(raw: dict[str, object], width: int, height: int, where: str) -> WornBox:
    coords = raw["box"]
    label = raw["label"]
    if not isinstance(coords, list) or len(coords) != 4 or not isinstance(label, str):
        raise ValueError(f"box {raw!r} needs 'box': [x1, y1, x2, y2] and a 'label' string")
    x1, y1, x2, y2 = (float(v) for v in coords)
    if not (0 <= x1 < x2 <= width + 1 and 0 <= y1 < y2 <= height + 1):
        raise ValueError(f"box {coords} is empty or outside the {width}x{height} photo")
    return WornBox(x1, y1, min(x2, width), min(y2, height), label)


def split_of(number: int) -> str:
    for name, numbers in SPLITS.items():
        if number in numbers:
            return name
    raise ValueError(f"people photo {number:04d} is in no split")


def in_split(photos: Iterable[PeoplePhoto], split: str) -> list[PeoplePhoto]:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {sorted(SPLITS)}")
    return [p for p in photos if p.number in SPLITS[split]]


def labels_of(photo: PeoplePhoto, class_map: ClassMap) -> tuple[list[Label], list[WornBox]]:
    """Detector labels for the mapped boxes, and the excluded boxes (never silently lost).

    A label the map does not know raises ``KeyError`` naming it.
    """
    kept: list[Label] = []
    excluded: list[WornBox] = []
    for b in photo.boxes:
        idx = class_map.index_of(b.label)
        if idx is None:
            excluded.append(b)
        else:
            kept.append(Label(b.x1, b.y1, b.x2, b.y2, idx))
    return kept, excluded


def unmapped_labels(photos: Sequence[PeoplePhoto], class_map: ClassMap) -> list[str]:
    return class_map.unmapped(b.label for p in photos for b in p.boxes)
