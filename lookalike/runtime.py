"""Wires the stages from one ``Settings``: used by the API, the CLI, eval and benchmarks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from detector import Detector, load_detector
from embedder import Embedder, load_embedder
from index.registry import IndexRegistry
from index.versions import IndexStore
from lookalike import demand
from lookalike.batching import InFlight
from lookalike.devices import gpu_present
from lookalike.result_cache import LruResultCache, RedisResultCache, ResultCache, TieredResultCache
from lookalike.search import SearchService
from lookalike.settings import Settings
from lookalike.store import CatalogStore


@dataclass
class Runtime:
    """Models are loaded on first use, once per process."""

    settings: Settings

    serving: bool = False
    """True in the server: enables the result cache, and the cross-request batchers where they
    pay (see ``batching``)."""

    @cached_property
    def in_flight(self) -> InFlight:
        """Searches under way in this process: the batchers wait for company only if some can come."""
        return InFlight()

    @cached_property
    def admission(self) -> InFlight:
        """Searches admitted by the API (running or waiting): over ``api.max_in_flight``, 429."""
        return InFlight(limit=self.settings.api.max_in_flight)

    @cached_property
    def batching(self) -> bool:
        """Whether model calls go through cross-request batchers (see ``BatchingSettings.enabled``)."""
        enabled = self.settings.batching.enabled
        if not self.serving:
            return False
        return gpu_present() if enabled == "auto" else enabled

    @property
    def search_threads(self) -> int:
        """Searches computing at once (the rest wait their turn; ``api.max_in_flight`` bounds both).

        With models inline on the CPU, one more search than cores keeps every core busy while
        one decodes or waits; more only interleave requests, which lengthens every one of
        them (p99/p50 1.6 -> 1.2 at 16 clients, same throughput). Batchers want company."""
        configured = self.settings.api.search_threads
        if configured:
            return configured
        return 32 if self.batching else (os.cpu_count() or 1) + 1

    @cached_property
    def detector(self) -> Detector:
        detector = load_detector(self.settings.detector)
        b = self.settings.batching
        if self.batching:
            from detector.batched import BatchedDetector

            return BatchedDetector(
                detector,
                max_batch_size=b.max_batch_size,
                max_wait_ms=b.max_wait_ms,
                max_queue=b.max_queue,
                demand=self.in_flight.count,
            )
        return detector

    @cached_property
    def embedder(self) -> Embedder:
        embedder = load_embedder(self.settings.embedder, cache_dir=self.settings.cache_dir)
        b = self.settings.batching
        if self.batching:
            from embedder.batched import BatchedEmbedder

            return BatchedEmbedder(
                embedder,
                max_batch_size=b.max_batch_size,
                max_wait_ms=b.max_wait_ms,
                max_queue=b.max_queue,
                demand=self.in_flight.count,
            )
        return embedder

    @cached_property
    def result_cache(self) -> ResultCache | None:
        c = self.settings.cache
        if not self.serving or c.max_bytes <= 0:
            return None
        local = LruResultCache(c.max_bytes)
        if c.redis_url:
            return TieredResultCache(local, RedisResultCache(c.redis_url, ttl_s=c.ttl_s))
        return local

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
        return IndexRegistry.from_settings(self.index_store, self.embedder.spec, self.settings.index)

    @cached_property
    def search(self) -> SearchService:
        demand.set_source(self.in_flight.count)  # a lone search may use every core and spin its models
        return SearchService(
            self.detector,
            self.embedder,
            self.indexes,
            self.store,
            self.settings.detector,
            cache=self.result_cache,
            draft_long_side=self.settings.api.decode_long_side or None,
            in_flight=self.in_flight,
        )
