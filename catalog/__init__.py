"""The catalog database: items, their images and the region vectors behind each index.

The catalog stage: the SQL rows behind search results (catalogs, items, their images, and the
region vectors each index is built from), with its Alembic migrations. ``CatalogStore`` is the
whole interface; ``records`` holds the values it takes and returns. SQLite by default,
PostgreSQL with the same code.
"""

from catalog.records import (
    CachedEmbedding,
    CatalogInfo,
    ImageRecord,
    IngestBatch,
    ItemRecord,
    RegionRecord,
    StoredImage,
)
from catalog.store import CatalogStore, RegionVectors

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
]
