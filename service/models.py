"""The models each catalog searches with: the server's own, or those its ``catalog_models`` entry names.

A catalog may name its own detector and embedder spec (the rest of their settings are the
server's). Models are keyed by their full settings, so catalogs naming the same spec share one
instance, whoever owns them; the server's own models are always loaded, the others live under
the same residency rules as indexes (``index.residency``): loaded on first use, once however
many searches ask, least recently used out beyond ``residency.max_models``, a wait bounded by
``residency.load_timeout_s`` (then 503 with Retry-After).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from detector import Detector, load_detector
from embedder import Embedder, catalog_settings, load_embedder, precisions
from index.residency import Residency
from lookalike.execution import ExecutionPolicy
from lookalike.settings import DetectorSettings, EmbedderSettings, Settings


@dataclass(frozen=True)
class CatalogModels:
    """What one catalog's searches detect and embed with."""

    detector: Detector
    embedder: Embedder
    detector_settings: DetectorSettings


class ModelRouter:
    """Implements ``service.search.ModelProvider``: a catalog's models, shared by spec."""

    def __init__(
        self,
        settings: Settings,
        *,
        default_detector: Callable[[], Detector],
        default_embedder: Callable[[], Embedder],
        execution: ExecutionPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.execution = execution
        self._default_detector = default_detector
        self._default_embedder = default_embedder
        self._catalog_embedders: dict[str, Embedder] = {}
        self._catalog_lock = threading.Lock()
        r = settings.residency
        # Budget in models, not bytes: each model counts 1 (the server's own are outside it).
        self.pool: Residency[Detector | Embedder] = Residency(
            r.max_models, load_timeout_s=r.load_timeout_s, loaders=1
        )

    def detector_settings(self, catalog: str) -> DetectorSettings:
        choice = self.settings.catalog_models.get(catalog)
        if choice is None or choice.detector is None:
            return self.settings.detector
        return self.settings.detector.model_copy(update={"spec": choice.detector})

    def embedder_settings(self, catalog: str) -> EmbedderSettings:
        choice = self.settings.catalog_models.get(catalog)
        if choice is None or choice.embedder is None:
            return self.settings.embedder
        return self.settings.embedder.model_copy(update={"spec": choice.embedder})

    def for_catalog(self, catalog: str) -> CatalogModels | None:
        """The catalog's models, or None when it searches with the server's own."""
        if catalog not in self.settings.catalog_models:
            return None
        detector_settings = self.detector_settings(catalog)
        return CatalogModels(self.detector(detector_settings), self.embedder_for(catalog), detector_settings)

    def embedder_for(self, catalog: str) -> Embedder:
        return self.embedder(self.embedder_settings(catalog))

    def catalog_embedder(self, settings: EmbedderSettings) -> Embedder:
        """What catalog photos are embedded with: the query embedder, unless it runs bf16; then the
        same model in fp32 (``embedder.catalog_settings``: bf16 on both sides costs recall, bf16
        queries on an fp32 catalog do not). Loaded once, on the first ingest."""
        query = self.embedder(settings)
        if "bf16" not in precisions(query):
            return query
        fp32 = catalog_settings(settings)
        key = fp32.model_dump_json()
        with self._catalog_lock:  # an ingest waits for the load, however long: no residency timeout
            loaded = self._catalog_embedders.get(key)
            if loaded is None:
                loaded = self._catalog_embedders[key] = load_embedder(
                    fp32, self.settings.onnx_dir, execution=self.execution
                )
        return loaded

    def detector(self, settings: DetectorSettings) -> Detector:
        if settings == self.settings.detector:
            return self._default_detector()
        loaded = self.pool.load(
            "detector:" + settings.model_dump_json(),
            lambda: (
                load_detector(settings, execution=self.execution, export_dir=self.settings.onnx_dir),
                1,
            ),
        )
        return cast(Detector, loaded)

    def embedder(self, settings: EmbedderSettings) -> Embedder:
        if settings == self.settings.embedder:
            return self._default_embedder()
        loaded = self.pool.load(
            "embedder:" + settings.model_dump_json(),
            lambda: (load_embedder(settings, self.settings.onnx_dir, execution=self.execution), 1),
        )
        return cast(Embedder, loaded)


__all__ = ["CatalogModels", "ModelRouter"]
