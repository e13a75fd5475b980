"""Wires the stages from one ``Settings``: used by the API, the CLI, eval and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from detector import Detector, load_detector
from embedder import Embedder, load_embedder
from index.registry import IndexRegistry
from index.versions import IndexStore
from lookalike.search import SearchService
from lookalike.settings import Settings
from lookalike.store import CatalogStore


@dataclass
class Runtime:
    """Models are loaded on first use, once per process."""

    settings: Settings

    @cached_property
    def detector(self) -> Detector:
        return load_detector(self.settings.detector)

    @cached_property
    def embedder(self) -> Embedder:
        return load_embedder(self.settings.embedder)

    @cached_property
    def store(self) -> CatalogStore:
        store = CatalogStore(self.settings.db_url)
        store.migrate()
        return store

    @cached_property
    def index_store(self) -> IndexStore:
        return IndexStore(self.settings.index_dir)

    @cached_property
    def indexes(self) -> IndexRegistry:
        return IndexRegistry(self.index_store, model_spec=self.embedder.spec)

    @cached_property
    def search(self) -> SearchService:
        return SearchService(self.detector, self.embedder, self.indexes, self.store, self.settings.detector)
