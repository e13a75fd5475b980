"""The server's view of indexes: lazy-load each catalog's CURRENT version, swap when it changes.

A swap loads and verifies the new version first; searches already holding the old one
finish on it (Python references keep it alive), new searches get the new one.
"""

from __future__ import annotations

import logging
import threading

from index.vector_index import VectorIndex
from index.versions import IndexStore, IndexVersionError
from lookalike.errors import UnknownCatalogError

log = logging.getLogger(__name__)


class IndexRegistry:
    """Implements ``lookalike.search.IndexProvider`` over an ``IndexStore``."""

    def __init__(self, store: IndexStore, model_spec: str | None = None) -> None:
        self.store = store
        self.model_spec = model_spec
        self._loaded: dict[str, tuple[str, VectorIndex]] = {}
        self._lock = threading.Lock()
        self.refused: dict[str, str] = {}

    def get(self, catalog: str) -> tuple[str, VectorIndex]:
        current = self.store.current_version(catalog)
        held = self._loaded.get(catalog)
        if held is not None and (current is None or held[0] == current or self.refused.get(catalog) == current):
            return held
        if current is None:
            raise UnknownCatalogError(f"catalog {catalog!r} has no published index; run `lookalike ingest` first")
        with self._lock:
            held = self._loaded.get(catalog)
            if held is not None and held[0] == current:
                return held
            try:
                manifest, index = self.store.load(catalog, current, model_spec=self.model_spec)
            except IndexVersionError as exc:
                self.refused[catalog] = current
                log.error("index_version_refused catalog=%s version=%s reason=%s", catalog, current, exc)
                if held is not None:
                    return held
                raise
            self._loaded[catalog] = (manifest.version, index)
            self.refused.pop(catalog, None)
            log.info("index_loaded catalog=%s version=%s count=%d", catalog, manifest.version, index.count)
            return self._loaded[catalog]

    def loaded(self) -> dict[str, str]:
        return {c: v for c, (v, _) in self._loaded.items()}
