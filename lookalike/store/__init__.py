"""The catalog database: items, their images and the region vectors behind each index.

``CatalogStore`` is the whole interface; ``records`` holds the values it takes and returns.
"""

from lookalike.store.records import (
    CachedEmbedding,
    CatalogInfo,
    ImageRecord,
    IngestBatch,
    ItemRecord,
    RegionRecord,
    StoredImage,
)
from lookalike.store.store import CatalogStore, RegionVectors, api_image_url

__all__ = [
    "CachedEmbedding",
    "CatalogInfo",
    "CatalogStore",
    "ImageRecord",
    "IngestBatch",
    "ItemRecord",
    "RegionRecord",
    "RegionVectors",
    "StoredImage",
    "api_image_url",
]
