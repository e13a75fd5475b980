"""``IngestParts``: everything an ingest run uses, built by the wiring (``Runtime.ingest_parts``).

Ingest needs the catalog store, the index store, the settings, a detector for catalog photos
and the embedder. It takes them as this small typed bundle instead of the whole runtime, so it
depends on no layer above the stages; the models are loaders, called only when a run embeds
(``--validate-only`` never loads them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from catalog import CatalogStore
from detector import Detector
from embedder import Embedder
from index import IndexStore
from lookalike.settings import DetectorSettings, Settings
from lookalike.types import DecodedImage

PhotoScreen = Callable[[DecodedImage], str | None]
"""Judges one catalog photo (``safety.catalog_photos``): why it is refused, or None to keep it."""


@dataclass(frozen=True)
class IngestParts:
    settings: Settings
    store: CatalogStore
    index_store: IndexStore
    detector: Callable[[], Detector]
    """Loads (or hands out) the detector for catalog photos (``catalog_detector_settings``)."""
    embedder: Callable[[], Embedder]
    screen: PhotoScreen | None = None
    """The safety gate for catalog photos; None: photos are not screened."""


def catalog_detector_settings(settings: Settings) -> DetectorSettings:
    """The query-side detector settings (region filters) with ``ingest.catalog_detector``'s spec,
    so catalog crops follow the same region rules as query crops."""
    return settings.detector.model_copy(update={"spec": settings.ingest.catalog_detector})


__all__ = ["IngestParts", "PhotoScreen", "catalog_detector_settings"]
