"""Wires the stages from one ``Settings``: used by the API, the CLI, eval and benchmarks.

The Runtime owns the process's ``ExecutionPolicy`` (``lookalike.execution``) and hands it to
every stage that computes: the detector's and the embedder's ONNX sessions and the index
registry's FAISS searches all read the same count of searches in flight and of model runs
under way. Nothing here is process-wide: two runtimes in one process do not steer each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

from prometheus_client import CollectorRegistry

from catalog import CatalogStore
from catalog_ingest import IngestParts, PhotoScreen, catalog_detector_settings
from detector import Detector, load_detector
from embedder import Embedder, load_embedder
from index import IndexRegistry, IndexStore
from index.metrics import ResidencyMetrics
from lookalike.batching import InFlight
from lookalike.devices import gpu_present
from lookalike.execution import ExecutionPolicy
from lookalike.settings import Settings
from lookalike.types import DecodedImage
from service.models import ModelRouter
from service.result_cache import LruResultCache, RedisResultCache, ResultCache, TieredResultCache
from service.search import SearchService
from service.telemetry import SearchMetrics
from understanding import BodyDetector, Explainer, ExplainOptions, SafetyGate, ScreenReader, policy_acts

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Models are loaded on first use, once per process."""

    settings: Settings

    serving: bool = False
    """True in the server: enables the result cache, and the cross-request batchers where they
    pay (see ``batching``)."""

    cores: int | None = None
    """Cores the policy may use; None: the process's usable cores (``usable_cores``)."""

    telemetry: CollectorRegistry = field(default_factory=CollectorRegistry, repr=False)
    """This runtime's Prometheus series (residency, searches per tenant and stage): /metrics."""

    def __post_init__(self) -> None:
        # Made here, not lazily: registering a series twice (two threads racing) is an error.
        self.search_metrics = SearchMetrics(self.telemetry)
        self.residency_metrics = ResidencyMetrics(self.telemetry, int(self.settings.residency.budget_bytes))

    @cached_property
    def in_flight(self) -> InFlight:
        """Searches under way in this process: the batchers wait for company only if some can come."""
        return InFlight()

    @cached_property
    def execution(self) -> ExecutionPolicy:
        """How this runtime's models and indexes share the cores; a lone search may use every one."""
        return ExecutionPolicy(self.cores, demand=self.in_flight.count)

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
        """Searches computing at once (the rest wait their turn; ``api.max_in_flight`` bounds both)."""
        return self.execution.search_threads(self.settings.api.search_threads, batching=self.batching)

    @cached_property
    def detector(self) -> Detector:
        detector = load_detector(
            self.settings.detector, execution=self.execution, export_dir=self.settings.onnx_dir
        )
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
        embedder = load_embedder(self.settings.embedder, self.settings.onnx_dir, execution=self.execution)
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
    def screen_reader(self) -> ScreenReader:
        """Reads query screenshots' text (``understanding``); its models load on the first read."""
        return ScreenReader(self.settings.understanding, self.execution, self.settings.onnx_dir)

    @cached_property
    def safety_gate(self) -> SafetyGate:
        """The upload safety gate (``safety``); NudeNet loads on the first upload a policy acts on."""
        s = self.settings.safety
        return SafetyGate(BodyDetector(s.threads, self.execution, side=s.input_side))

    @cached_property
    def explainer(self) -> Explainer:
        """Occlusion heatmaps of query crops (``explain``), kept by image hash, box and item."""
        e = self.settings.explain
        return Explainer(ExplainOptions(e.grid, e.window, e.heatmap_side), e.cache_entries)

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
        s = self.settings
        store = CatalogStore(s.db_url, pool_size=s.database_pool_size, max_overflow=s.database_max_overflow)
        store.migrate()
        return store

    @cached_property
    def index_store(self) -> IndexStore:
        return IndexStore(self.settings.index_dir)

    @cached_property
    def indexes(self) -> IndexRegistry:
        """Catalog indexes, loaded on first search and kept under ``residency.budget_bytes``;
        ``api.preload_catalogs`` are pinned (the warm-up loads them)."""
        r = self.settings.residency
        return IndexRegistry.from_settings(
            self.index_store,
            self.embedder_spec_of if self.settings.catalog_models else self.embedder.spec,
            self.settings.index,
            execution=self.execution,
            location=self.settings.public_data_dir(),
            residency=r,
            pinned=self.settings.api.preload_catalogs,
            observer=self.residency_metrics,
        )

    @cached_property
    def search(self) -> SearchService:
        return SearchService(
            self.detector,
            self.embedder,
            self.indexes,
            self.store,
            self.settings.detector,
            cache=self.result_cache,
            draft_long_side=self.settings.api.decode_long_side or None,
            full_decode_pixels=self.settings.api.max_pixels_full_decode,
            in_flight=self.in_flight,
            reader=self.screen_reader,
            texts=self.store,
            understanding=self.settings.understanding,
            models=self.models if self.settings.catalog_models else None,
            gate=self.safety_gate,
            safety=self.settings.safety,
            explainer=self.explainer,
            explain=self.settings.explain,
            search=self.settings.search,
        )

    def model_servers(self) -> dict[str, str]:
        """Readiness of the remote model servers the loaded models call (Triton), by model spec:
        "ok" or why not. Empty when every model runs in this process."""
        checks: dict[str, str] = {}
        for stage in (self.detector, self.embedder):
            model = _innermost(stage)
            ready = getattr(model, "ready", None)
            if callable(ready):
                checks[f"model server {getattr(model, 'spec', '')}"] = str(ready())
        return checks

    @cached_property
    def models(self) -> ModelRouter:
        """Per-catalog detectors and embedders (``catalog_models``), shared by spec."""
        return ModelRouter(
            self.settings,
            default_detector=lambda: self.detector,
            default_embedder=lambda: self.embedder,
            execution=self.execution,
        )

    def embedder_spec_of(self, catalog: str) -> str:
        """The vector space a catalog's index must be in: its own embedder's, else the server's."""
        if catalog in self.settings.catalog_models:
            return self.models.embedder_for(catalog).spec
        return self.embedder.spec

    def catalog_detector(self) -> Detector:
        """The detector for catalog photos (``ingest.catalog_detector``): the search detector when
        both name the same spec (loaded once), else one of its own."""
        settings = catalog_detector_settings(self.settings)
        if settings.spec == self.settings.detector.spec:
            return self.detector
        return load_detector(settings, execution=self.execution, export_dir=self.settings.onnx_dir)

    def photo_screen(self) -> PhotoScreen | None:
        """The safety gate for catalog photos (``safety.catalog_photos``), under ``safety.rules``."""
        rules = self.settings.safety.rules
        if not self.settings.safety.catalog_photos or not policy_acts(rules):
            return None
        gate = self.safety_gate

        def screen(image: DecodedImage) -> str | None:
            verdict = gate.screen(image.pixels, rules)
            found = ", ".join(f"{f.label} ({f.score:.2f})" for f in verdict.findings)
            if verdict.action == "refuse":
                return f"refused by the safety policy: {found}"
            if verdict.action == "flag":
                log.warning("catalog photo flagged by the safety policy: %s (%s)", image.source, found)
            return None

        return screen

    def ingest_parts(self, catalog: str | None = None) -> IngestParts:
        """What ``catalog_ingest.ingest_manifest`` uses; the models load only if it embeds. With
        ``catalog``, its own embedder when ``catalog_models`` names one."""
        if catalog is None or catalog not in self.settings.catalog_models:
            return IngestParts(
                settings=self.settings,
                store=self.store,
                index_store=self.index_store,
                detector=self.catalog_detector,
                embedder=lambda: self.models.catalog_embedder(self.settings.embedder),
                screen=self.photo_screen(),
            )
        embedder_settings = self.models.embedder_settings(catalog)
        return IngestParts(
            settings=self.settings.model_copy(update={"embedder": embedder_settings}),
            store=self.store,
            index_store=self.index_store,
            detector=self.catalog_detector,
            embedder=lambda: self.models.catalog_embedder(embedder_settings),
            screen=self.photo_screen(),
        )


def _innermost(model: object) -> object:
    """The model under its wrappers (a batcher's ``inner``; flip averaging's and an adapter's ``base``)."""
    while not callable(getattr(model, "ready", None)):
        wrapped = getattr(model, "inner", None) or getattr(model, "base", None)
        if wrapped is None:
            break
        model = wrapped
    return model
