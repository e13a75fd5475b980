"""Which detected regions a search (or a catalog photo) keeps: the detector stage's region rules.

Queries and catalog photos go through the same rules, so their crops match.
"""

from __future__ import annotations

from collections.abc import Collection

from lookalike.settings import DetectorSettings
from lookalike.types import Box, DecodedImage, Region

PAIR_INSIDE = 0.7
"""Share of a smaller box that must lie inside a bigger one for it to count as one of its pair."""


def select_regions(regions: list[Region], image: DecodedImage, settings: DetectorSettings) -> list[Region]:
    """Every region of a useful size, best score (then largest) first, up to the safety cap
    ``max_regions``; the whole image when none is left (or also, with ``include_whole_image``)."""
    full = Box.full(image.width, image.height)
    min_area = settings.min_box_fraction * full.area
    clipped = [Region(r.box.clipped(image.width, image.height), r.category, r.score) for r in regions]
    kept = [r for r in clipped if r.box.area >= min_area and r.box.width >= 2 and r.box.height >= 2]
    kept = drop_pair_boxes(kept, settings.pair_categories)
    kept.sort(key=lambda r: (-r.score, -r.box.area))
    kept = kept[: settings.max_regions]
    if settings.include_whole_image or not kept:
        kept.append(Region(full, None, 0.0 if kept else 1.0))
    return kept


def drop_pair_boxes(regions: list[Region], categories: Collection[str]) -> list[Region]:
    """Drops a box of a paired category (shoes) that holds two smaller boxes of that category.

    The detector sometimes boxes both shoes together as well as each shoe: the pair box matches
    neither shoe and its crop is two products. When each shoe has its own box, they are searched.
    """
    if not categories:
        return regions
    paired = [i for i, r in enumerate(regions) if r.category in categories]
    drop: set[int] = set()
    for i in paired:
        outer = regions[i].box
        inner = sum(
            1
            for j in paired
            if j != i
            and regions[j].box.area < outer.area
            and _inside_share(regions[j].box, outer) >= PAIR_INSIDE
        )
        if inner >= 2:
            drop.add(i)
    return [r for i, r in enumerate(regions) if i not in drop]


def _inside_share(box: Box, outer: Box) -> float:
    w = min(box.x2, outer.x2) - max(box.x1, outer.x1)
    h = min(box.y2, outer.y2) - max(box.y1, outer.y1)
    return max(0.0, w) * max(0.0, h) / box.area if box.area > 0 else 0.0


__all__ = ["drop_pair_boxes", "select_regions"]
