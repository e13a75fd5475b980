"""Compose a YOLO-format detection dataset (images/, labels/, data.yaml) from catalog photos.

Items are split into train and val before any image is composed, so a val image never shows a
train item; items the evaluation holds back are removed before that. Each image is seeded from
``(seed, split, index)`` alone, so a run is reproducible and any image can be regenerated.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from PIL import Image

from detector.training.camera import photo_of_screen, photometric
from detector.training.catalog import CatalogPhoto
from detector.training.classes import ClassMap
from detector.training.draw import MIN_VISIBLE, Label
from detector.training.layouts import LAYOUTS, TRAIN_MIX, Ctx, Layout
from detector.training.people import PeoplePhoto, labels_of
from detector.training.people_layouts import PEOPLE_LAYOUTS

ALL_LAYOUTS: dict[str, Layout] = {**LAYOUTS, **PEOPLE_LAYOUTS}

MIN_SIDE_PX = 4.0


@dataclass(frozen=True)
class DatasetConfig:
    train_images: int
    val_images: int
    seed: int = 20261123
    max_side: int = 416  # stored images' long side (train at imgsz <= this)
    val_items: float = 0.12  # share of items reserved for val images
    mix: Mapping[str, float] = field(default_factory=lambda: dict(TRAIN_MIX))
    screen_photo: float = 0.1  # share of images re-photographed off a screen
    landscape: float = 0.15
    augment: bool = True  # photometric jitter + JPEG round trip


@dataclass(frozen=True)
class LabelledItem:
    item_id: str
    path: Path
    cls: int


@dataclass(frozen=True)
class DatasetSummary:
    root: Path
    images: dict[str, int]
    boxes: dict[str, int]
    negatives: dict[str, int]
    per_class: dict[str, int]
    items: dict[str, int]


def label_items(photos: Sequence[CatalogPhoto], class_map: ClassMap) -> list[LabelledItem]:
    """Attach detector classes; dropped categories go; an unmapped category is an error naming it."""
    unmapped = class_map.unmapped(p.category for p in photos)
    if unmapped:
        raise ValueError(f"categories missing from the class map: {unmapped} (map them, or to null to drop)")
    out = []
    for p in photos:
        idx = class_map.index_of(p.category)
        if idx is not None:
            out.append(LabelledItem(p.item_id, p.path, idx))
    return out


def split_items(
    items: Sequence[LabelledItem], val_share: float, seed: int
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """Item-disjoint train/val split, stratified by class, independent of input order."""
    rng = random.Random(f"split:{seed}")
    train: list[LabelledItem] = []
    val: list[LabelledItem] = []
    by_cls: dict[int, list[LabelledItem]] = {}
    for it in sorted(items, key=lambda i: i.item_id):
        by_cls.setdefault(it.cls, []).append(it)
    for cls in sorted(by_cls):
        group = by_cls[cls]
        rng.shuffle(group)
        n_val = max(1, round(len(group) * val_share)) if len(group) > 1 and val_share > 0 else 0
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return train, val


def load_photo(path: Path, max_side: int = 480) -> Image.Image:
    with Image.open(path) as im:
        im.draft("RGB", (max_side, max_side))
        rgb = im.convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side))
    return rgb


@dataclass(frozen=True)
class PeoplePool:
    """People photos of one split and the map from their labels to detector classes."""

    photos: Sequence[PeoplePhoto]
    class_map: ClassMap


class _Sampler:
    """Draws products class-balanced (weight ~ sqrt(class size)) so rare classes are seen,
    and people photos (uniformly) with their mapped boxes."""

    def __init__(self, items: Sequence[LabelledItem], people: PeoplePool | None = None) -> None:
        if not items:
            raise ValueError("no catalog items left to compose images from")
        self._people = people
        self.people_used: set[int] = set()
        self._by_cls: dict[int, list[LabelledItem]] = {}
        for it in items:
            self._by_cls.setdefault(it.cls, []).append(it)
        self._classes = sorted(self._by_cls)
        self._weights = [math.sqrt(len(self._by_cls[c])) for c in self._classes]
        self._all = list(items)
        self.used: set[str] = set()

    def product(self, rng: random.Random) -> tuple[Image.Image, int]:
        cls = rng.choices(self._classes, self._weights)[0]
        it = rng.choice(self._by_cls[cls])
        self.used.add(it.item_id)
        return load_photo(it.path), it.cls

    def scenery(self, rng: random.Random) -> Image.Image:
        it = rng.choice(self._all)
        self.used.add(it.item_id)
        return load_photo(it.path)

    @property
    def has_people(self) -> bool:
        return self._people is not None and bool(self._people.photos)

    def person(self, rng: random.Random) -> tuple[Image.Image, list[Label]]:
        if self._people is None or not self._people.photos:
            raise ValueError("people layouts need people photos (make-dataset --people-dir)")
        photo = rng.choice(self._people.photos)
        self.people_used.add(photo.number)
        labels, _ = labels_of(photo, self._people.class_map)
        with Image.open(photo.path) as im:
            img = im.convert("RGB")
        sx, sy = img.width / photo.width, img.height / photo.height
        return img, [Label(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy, b.cls) for b in labels]


def compose_image(
    sampler: _Sampler, config: DatasetConfig, rng: random.Random, layout: str
) -> tuple[Image.Image, list[Label]]:
    """One composed image at ``config.max_side`` with its labels already clipped and filtered."""
    long_side = int(config.max_side * rng.uniform(1.0, 1.8))
    if rng.random() < config.landscape:
        w, h = long_side, int(long_side / rng.uniform(1.3, 1.8))
    else:
        w, h = int(long_side / rng.uniform(1.7, 2.2)), long_side
    person = (lambda: sampler.person(rng)) if sampler.has_people else None
    ctx = Ctx(rng, w, h, lambda: sampler.product(rng), lambda: sampler.scenery(rng), person)
    img, raw = ALL_LAYOUTS[layout](ctx)
    if rng.random() < config.screen_photo:
        img, raw = photo_of_screen(img, raw, rng, sampler.scenery(rng))
    labels = _visible(raw, img.width, img.height)
    scale = config.max_side / max(img.size)
    if scale < 1:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )
        labels = [Label(b.x1 * scale, b.y1 * scale, b.x2 * scale, b.y2 * scale, b.cls) for b in labels]
    if config.augment:
        img = photometric(img, rng)
    return img, labels


def _visible(labels: Sequence[Label], width: int, height: int) -> list[Label]:
    out = []
    for lb in labels:
        c = lb.clipped(width, height)
        if lb.area > 0 and c.area / lb.area >= MIN_VISIBLE and min(c.x2 - c.x1, c.y2 - c.y1) >= MIN_SIDE_PX:
            out.append(c)
    return out


def yolo_lines(labels: Sequence[Label], width: int, height: int) -> list[str]:
    """``cls cx cy w h`` normalised to the image, one line per box."""
    return [
        f"{b.cls} {(b.x1 + b.x2) / 2 / width:.6f} {(b.y1 + b.y2) / 2 / height:.6f} "
        f"{(b.x2 - b.x1) / width:.6f} {(b.y2 - b.y1) / height:.6f}"
        for b in labels
    ]


def _layout_plan(n: int, mix: Mapping[str, float], rng: random.Random) -> list[str]:
    unknown = set(mix) - set(ALL_LAYOUTS)
    if unknown:
        raise ValueError(f"unknown layouts {sorted(unknown)}; known: {sorted(ALL_LAYOUTS)}")
    names = sorted(k for k, v in mix.items() if v > 0)
    total = sum(mix[k] for k in names)
    plan: list[str] = []
    for k in names:
        plan += [k] * round(n * mix[k] / total)
    while len(plan) < n:
        plan.append(rng.choices(names, [mix[k] for k in names])[0])
    plan = plan[:n]
    rng.shuffle(plan)
    return plan


def make_dataset(
    photos: Sequence[CatalogPhoto],
    class_map: ClassMap,
    out: Path,
    config: DatasetConfig,
    *,
    exclude_items: set[str] | frozenset[str] = frozenset(),
    people: Mapping[str, PeoplePool] | None = None,
    progress: bool = False,
) -> DatasetSummary:
    """Write ``out/{images,labels}/{train,val}``, ``out/data.yaml``, ``class_map.json`` and ``items.json``.

    ``people`` gives each split its own people photos (``people.SPLITS``) for the people layouts.
    """
    people = people or {}
    wanted = {k for k, v in config.mix.items() if v > 0 and k in PEOPLE_LAYOUTS}
    if wanted and not people:
        raise ValueError(f"layouts {sorted(wanted)} need people photos (make-dataset --people-dir)")
    for people_pool in people.values():
        if people_pool.class_map.classes != class_map.classes:
            raise ValueError("the people class map must have the same detector classes as the catalog map")
    items = label_items([p for p in photos if p.item_id not in exclude_items], class_map)
    train_items, val_items = split_items(items, config.val_items, config.seed)
    images: dict[str, int] = {}
    boxes: dict[str, int] = {}
    negatives: dict[str, int] = {}
    per_class: Counter[str] = Counter()
    used: dict[str, list[str]] = {}
    people_used: dict[str, list[int]] = {}
    for split, n, pool in (
        ("train", config.train_images, train_items),
        ("val", config.val_images, val_items),
    ):
        img_dir, lbl_dir = out / "images" / split, out / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        if n == 0:
            images[split] = boxes[split] = negatives[split] = 0
            used[split], people_used[split] = [], []
            continue
        sampler = _Sampler(pool, people.get(split))
        plan = _layout_plan(n, config.mix, random.Random(f"plan:{config.seed}:{split}"))
        boxes[split] = negatives[split] = 0
        for i, layout in enumerate(plan):
            rng = random.Random(f"img:{config.seed}:{split}:{i}")
            img, labels = compose_image(sampler, config, rng, layout)
            stem = f"{split}_{i:05d}_{layout}"
            img.save(img_dir / f"{stem}.jpg", quality=95)
            (lbl_dir / f"{stem}.txt").write_text("".join(ln + "\n" for ln in yolo_lines(labels, *img.size)))
            boxes[split] += len(labels)
            negatives[split] += not labels
            per_class.update(class_map.classes[b.cls] for b in labels)
            if progress and (i + 1) % 100 == 0:
                print(f"{split}: {i + 1}/{n}", flush=True)
        images[split] = n
        used[split] = sorted(sampler.used)
        people_used[split] = sorted(sampler.people_used)
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(class_map.classes)),
    }
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (out / "class_map.json").write_text(json.dumps(class_map.to_dict(), indent=2) + "\n")
    record = {"seed": config.seed, "used": used, "people_used": people_used}
    (out / "items.json").write_text(json.dumps(record, indent=1) + "\n")
    return DatasetSummary(
        out, images, boxes, negatives, dict(per_class), {k: len(v) for k, v in used.items()}
    )
