"""Which detected regions a search (or a catalog photo) keeps: the detector stage's region rules.

Queries and catalog photos go through the same rules, so their crops match.
"""

from __future__ import annotations

from lookalike.settings import DetectorSettings
from lookalike.types import Box, DecodedImage, Region


def select_regions(regions: list[Region], image: DecodedImage, settings: DetectorSettings) -> list[Region]:
    """Every region of a useful size, best score (then largest) first, up to the safety cap
    ``max_regions``; the whole image when none is left (or also, with ``include_whole_image``)."""
    full = Box.full(image.width, image.height)
    min_area = settings.min_box_fraction * full.area
    clipped = [Region(r.box.clipped(image.width, image.height), r.category, r.score) for r in regions]
    kept = [r for r in clipped if r.box.area >= min_area and r.box.width >= 2 and r.box.height >= 2]
    kept.sort(key=lambda r: (-r.score, -r.box.area))
    kept = kept[: settings.max_regions]
    if settings.include_whole_image or not kept:
        kept.append(Region(full, None, 0.0 if kept else 1.0))
    return kept


__all__ = ["select_regions"]
