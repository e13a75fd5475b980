"""Detect and embed the regions of newly seen catalog photos, in batches."""

from __future__ import annotations

from collections.abc import Sequence

from catalog import RegionRecord
from detector import Detector, select_regions
from embedder import Embedder
from lookalike.settings import DetectorSettings
from lookalike.types import DecodedImage, Region


def catalog_regions(image: DecodedImage, found: list[Region], settings: DetectorSettings) -> list[Region]:
    """The search pipeline's region rules (so catalog and query crops match), without repeated boxes."""
    kept: list[Region] = []
    for region in select_regions(found, image, settings):
        if all(region.box != k.box for k in kept):
            kept.append(region)
    return kept


def embed_regions(
    images: Sequence[DecodedImage],
    detector: Detector,
    embedder: Embedder,
    settings: DetectorSettings,
    batch_size: int,
) -> list[list[RegionRecord]]:
    """One list of region records (with vectors) per image, in input order."""
    out: list[list[RegionRecord]] = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        detected = detector.detect(chunk)
        regions = [catalog_regions(img, found, settings) for img, found in zip(chunk, detected, strict=True)]
        crops = [img.crop(r.box) for img, rs in zip(chunk, regions, strict=True) for r in rs]
        vectors = [
            row
            for crop_start in range(0, len(crops), batch_size)
            for row in embedder.embed_images(crops[crop_start : crop_start + batch_size])
        ]
        cursor = 0
        for rs in regions:
            records = []
            for region in rs:
                records.append(
                    RegionRecord(
                        box=region.box,
                        category=region.category,
                        score=region.score,
                        detector_spec=settings.spec,
                        model_spec=embedder.spec,
                        vector=vectors[cursor],
                    )
                )
                cursor += 1
            out.append(records)
    return out
