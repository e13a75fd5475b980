"""Plain values the store takes and returns, so callers never touch ORM rows or sessions.

An item's fields are declared once, in ``lookalike.items`` (``ItemRecord``, re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from lookalike.items import METADATA_FIELDS, ItemRecord
from lookalike.types import Box

__all__ = [
    "METADATA_FIELDS",
    "CachedEmbedding",
    "CatalogInfo",
    "ImageRecord",
    "IngestBatch",
    "ItemRecord",
    "RegionRecord",
    "StoredImage",
]


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    name: str
    item_count: int
    image_count: int
    region_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """A distinct image of a catalog, keyed by the sha256 of its bytes."""

    sha256: str
    source: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image already in a catalog; ``has_regions`` for the model and detector asked about."""

    image_id: int
    sha256: str
    width: int
    height: int
    has_regions: bool


@dataclass(frozen=True, slots=True)
class RegionRecord:
    """A region of an image with its embedding. ``category`` is the detector's (or None)."""

    box: Box
    category: str | None
    score: float
    detector_spec: str
    model_spec: str
    vector: npt.NDArray[np.float32]


@dataclass(slots=True)
class IngestBatch:
    """Everything one ingest batch writes, applied in one transaction.

    ``items`` are inserted, or fill the blank fields of a stored item; ``images`` are
    inserted unless their sha256 is already in the catalog; ``links`` are (item_id, sha256)
    pairs appended to the item's images in order; ``regions`` replace the regions of that
    image for their model spec.
    """

    items: list[ItemRecord] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    regions: dict[str, list[RegionRecord]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.items or self.images or self.links or self.regions)


@dataclass(slots=True)
class CachedEmbedding:
    """Regions computed earlier for the same bytes (in any catalog): reused, not re-embedded."""

    width: int
    height: int
    regions: list[RegionRecord]
