"""Catalog categories -> a small set of detector classes, as a file a retailer can replace."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from detector.categories import GARMENT_CATEGORIES, GARMENT_CLASSES


@dataclass(frozen=True, slots=True)
class ClassMap:
    """Ordered detector classes and which catalog category feeds which class (or is dropped)."""

    classes: tuple[str, ...]
    categories: Mapping[str, str | None]

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("class map needs at least one detector class")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"duplicate detector classes in {list(self.classes)}")
        unknown = {c for c in self.categories.values() if c is not None and c not in self.classes}
        if unknown:
            raise ValueError(f"class map sends categories to undeclared classes: {sorted(unknown)}")

    def class_of(self, category: str) -> str | None:
        """Detector class for a catalog category; None when the category is dropped."""
        if category not in self.categories:
            raise KeyError(f"catalog category {category!r} is not in the class map")
        return self.categories[category]

    def index_of(self, category: str) -> int | None:
        name = self.class_of(category)
        return None if name is None else self.classes.index(name)

    def unmapped(self, categories: Iterable[str]) -> list[str]:
        return sorted({c for c in categories if c not in self.categories})

    def to_dict(self) -> dict[str, object]:
        return {"classes": list(self.classes), "categories": dict(self.categories)}


GARMENT_CLASS_MAP = ClassMap(GARMENT_CLASSES, GARMENT_CATEGORIES)


def load_class_map(path: Path | None) -> ClassMap:
    """Read ``{"classes": [...], "categories": {category: class | null}}`` from JSON or YAML.

    No path gives the garment map for the shared clothing labels.
    """
    if path is None:
        return GARMENT_CLASS_MAP
    text = Path(path).read_text(encoding="utf-8")
    raw = json.loads(text) if Path(path).suffix.lower() == ".json" else yaml.safe_load(text)
    if not isinstance(raw, dict) or "classes" not in raw or "categories" not in raw:
        raise ValueError(f"{path}: expected keys 'classes' (list) and 'categories' (mapping)")
    classes = raw["classes"]
    categories = raw["categories"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"{path}: 'classes' must be a list of names")
    if not isinstance(categories, dict):
        raise ValueError(f"{path}: 'categories' must map catalog category -> class name or null")
    mapped = {str(k): (None if v is None else str(v)) for k, v in categories.items()}
    try:
        return ClassMap(tuple(classes), mapped)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
