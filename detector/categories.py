"""Detector classes and catalog categories: two vocabularies, and the mapping where it is known.

``garment-yolo`` was trained on the shared clothing data with its 20 catalog labels folded into
7 classes (``GARMENT_CATEGORIES``). Where a class stands for exactly one catalog category
(dress -> Dress, footwear -> Shoes, headwear -> Hat), a detected region is named by that catalog
category, so the search answer speaks the catalog's vocabulary; a class that covers several
categories ("top": T-Shirt, Shirt, Hoodie, ...) keeps its own name, since which of them it is
is not known. ``detector.category_map`` replaces this map (``{}`` keeps every class name).
"""

from __future__ import annotations

from collections.abc import Mapping

# "bag" is last so a 7-class checkpoint's class rows keep their indices when it learns bags.
GARMENT_CLASSES: tuple[str, ...] = (
    "top",
    "bottom",
    "dress",
    "outerwear",
    "footwear",
    "headwear",
    "other",
    "bag",
)

GARMENT_CATEGORIES: dict[str, str | None] = {
    **dict.fromkeys(
        ("T-Shirt", "Longsleeve", "Shirt", "Polo", "Undershirt", "Top", "Blouse", "Hoodie", "Body"), "top"
    ),
    **dict.fromkeys(("Pants", "Shorts", "Skirt"), "bottom"),
    "Dress": "dress",
    "Outwear": "outerwear",
    "Blazer": "outerwear",
    "Shoes": "footwear",
    "Hat": "headwear",
    "Other": "other",
    "Not sure": "other",
    "Skip": None,
}
"""Labels of the shared clothing dataset -> garment-yolo's class (``None``: never trained on)."""


def class_to_category(categories: Mapping[str, str | None]) -> dict[str, str]:
    """Each detector class fed by exactly one catalog category -> that category."""
    fed: dict[str, list[str]] = {}
    for category, cls in categories.items():
        if cls is not None:
            fed.setdefault(cls, []).append(category)
    return {cls: cats[0] for cls, cats in fed.items() if len(cats) == 1}


KNOWN_CATEGORY_MAPS: dict[str, dict[str, str]] = {"garment-yolo": class_to_category(GARMENT_CATEGORIES)}
"""Detector spec kind -> its default class -> catalog category map."""


def default_category_map(kind: str) -> dict[str, str]:
    """The known map of a detector kind (empty when none is known: class names stay as they are)."""
    return dict(KNOWN_CATEGORY_MAPS.get(kind, {}))


__all__ = ["GARMENT_CATEGORIES", "GARMENT_CLASSES", "class_to_category", "default_category_map"]
