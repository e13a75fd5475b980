"""The server's view of indexes: each catalog's live state loads on first use, swaps when it changes.

Which catalogs stay loaded is ``index.residency``'s job: a byte budget, least recently used out
first, pinned catalogs kept, one load per catalog however many searches ask at once. Checking
for changes is cheap (two ``stat`` calls, at most every ``check_interval_s``); a new version
loads in a background thread while searches go on against the state they hold, and the swap is
one reference assignment, so no search waits for a swap or fails because of one. Searches in
flight keep the old (or an evicted) state alive (Python references) until they finish. A
version or segment that fails verification is refused with a log line and a metric; the
previous state goes on serving. Changes made through the same ``IndexStore`` object load at
once, in the writer's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from index.live import LiveIndex
from index.metrics import METRICS, Metrics
from index.residency import Residency, ResidencyObserver
from index.vector_index import FilterPolicy
from index.versions import IndexStore, IndexVersionError
from lookalike.errors import UnknownCatalogError
from lookalike.execution import ExecutionPolicy
from lookalike.settings import IndexSettings, ResidencySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOverrides:
    """Search-time parameters that win over each version's plan (0 / None: keep the plan's)."""

    nprobe: int = 0
    ef_search: int = 0
    rerank: int | None = None
    policy: FilterPolicy | None = None


UNBOUNDED = 1 << 62
SERVING_GAUGES = (
    "lookalike_index_info",
    "lookalike_index_vectors",
    "lookalike_index_deleted",
    "lookalike_index_delta_rows",
    "lookalike_index_load_seconds",
)


def resident_set(
    settings: ResidencySettings,
    pinned: list[str] | tuple[str, ...] = (),
    observer: ResidencyObserver | None = None,
) -> Residency[_Entry]:
    """The residency policy ``settings`` describes; ``pinned`` adds catalogs (the preload list)."""
    return Residency(
        int(settings.budget_bytes),
        pinned=[*settings.pinned, *pinned],
        load_timeout_s=settings.load_timeout_s,
        loaders=settings.loaders,
        observer=observer,
    )


@dataclass
class _Entry:
    live: LiveIndex
    signature: tuple[object, ...]
    checked_at: float
    refused: tuple[object, ...] | None = None
    loading: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class IndexRegistry:
    """Implements ``service.search.IndexProvider`` over an ``IndexStore``; FAISS in the indexes it
    serves sizes its threads by ``execution`` (the server's policy)."""

    def __init__(
        self,
        store: IndexStore,
        model_spec: str | Callable[[str], str] | None = None,
        *,
        check_interval_s: float = 0.5,
        background: bool = True,
        overrides: SearchOverrides | None = None,
        use_gpu: bool = True,
        metrics: Metrics = METRICS,
        execution: ExecutionPolicy | None = None,
        location: str | None = None,
        residency: Residency[_Entry] | None = None,
    ) -> None:
        self.store = store
        self.location = location
        """How clients are told where this registry looks (e.g. "data folder 'var' (data_dir)"):
        named in the "no published index" error, which must not show a server path."""
        self.execution = execution or ExecutionPolicy()
        self.model_spec = model_spec
        """The embedder spec every version must be built with; a function of the catalog when
        catalogs name their own embedders (``catalog_models``); None: not checked."""
        self.check_interval_s = check_interval_s
        self.background = background
        self.overrides = overrides or SearchOverrides()
        self.use_gpu = use_gpu
        self.metrics = metrics
        self.refused: dict[str, str] = {}
        self.residency: Residency[_Entry] = residency or Residency(UNBOUNDED)
        """Which catalogs stay loaded (default: every catalog used, no budget)."""
        self.residency.on_evict = self._evicted
        store.subscribe(self._on_change)

    @classmethod
    def from_settings(
        cls,
        store: IndexStore,
        model_spec: str | Callable[[str], str] | None,
        settings: IndexSettings,
        execution: ExecutionPolicy | None = None,
        location: str | None = None,
        residency: ResidencySettings | None = None,
        pinned: list[str] | tuple[str, ...] = (),
        observer: ResidencyObserver | None = None,
    ) -> IndexRegistry:
        """The registry ``settings.index`` describes: search-time overrides, filter policy, GPU,
        checks; with ``residency``, the budget, pinned catalogs (plus ``pinned``) and load wait."""
        policy = FilterPolicy(
            exact_max_rows=settings.exact_filter_rows, exact_max_fraction=settings.exact_filter_fraction
        )
        overrides = SearchOverrides(settings.nprobe, settings.ef_search, settings.rerank, policy)
        return cls(
            store,
            model_spec,
            check_interval_s=settings.check_interval_s,
            overrides=overrides,
            use_gpu=settings.use_gpu == "auto",
            execution=execution,
            location=location,
            residency=None if residency is None else resident_set(residency, pinned, observer),
        )

    def get(self, catalog: str) -> tuple[str, LiveIndex]:
        entry = self.residency.load(catalog, lambda: self._load_first(catalog))
        now = time.monotonic()
        if now - entry.checked_at >= self.check_interval_s:
            entry.checked_at = now
            signature = self.store.signature(catalog)
            if signature != entry.signature and signature != entry.refused and not entry.loading:
                entry.loading = True
                if self.background:
                    threading.Thread(
                        target=self._reload, args=(catalog, entry), name=f"index-load-{catalog}", daemon=True
                    ).start()
                else:
                    self._reload(catalog, entry)
        live = entry.live
        return live.version, live

    def refresh(self, catalog: str) -> str:
        """Load changes now, in this thread (tests, warm-up); returns the version served."""
        entry = self.residency.peek(catalog)
        if entry is None:
            return self.get(catalog)[0]
        self._reload(catalog, entry)
        return entry.live.version

    def loaded(self) -> dict[str, str]:
        """The resident catalogs and their versions, least recently used first."""
        return {c: e.live.version for c, e, _ in self.residency.snapshot()}

    # -- loading -----------------------------------------------------------------------------------

    def _load_first(self, catalog: str) -> tuple[_Entry, int]:
        """Run by ``residency`` once per cold catalog, in its loader thread: (entry, bytes)."""
        signature = self.store.signature(catalog)
        if self.store.current_version(catalog) is None:
            log.warning("no_index catalog=%s index_dir=%s", catalog, self.store.root.resolve())
            where = f" in the {self.location}" if self.location else ""
            raise UnknownCatalogError(
                f"catalog {catalog!r} has no published index{where}; run `lookalike ingest` "
                "with the same data folder first"
            )
        start = time.perf_counter()
        try:
            live = self._prepare(self.store.load_live(catalog, model_spec=self._spec_of(catalog)))
        except IndexVersionError as exc:
            self._refuse(catalog, self.store.live_version(catalog) or "?", exc)
            raise
        entry = _Entry(live, signature, time.monotonic())
        self._loaded(catalog, live, "base", time.perf_counter() - start)
        return entry, live.nbytes

    def _reload(self, catalog: str, entry: _Entry) -> None:
        with entry.lock:
            try:
                signature = self.store.signature(catalog)
                if signature == entry.signature:
                    return
                held = entry.live
                start = time.perf_counter()
                try:
                    live = self.store.load_live(catalog, model_spec=self._spec_of(catalog), held=held)
                    if live.base is not held.base:
                        live = self._prepare(live)
                except (IndexVersionError, ValueError, OSError) as exc:
                    entry.refused = signature
                    self._refuse(catalog, self.store.live_version(catalog) or "?", exc)
                    return
                entry.live, entry.signature, entry.refused = live, signature, None
                self.residency.resize(catalog, live.nbytes)
                kind = "delta" if live.base is held.base else "base"
                self._loaded(catalog, live, kind, time.perf_counter() - start)
                self.metrics.inc("lookalike_index_swaps_total", catalog=catalog)
                log.info("index_swapped catalog=%s from=%s to=%s", catalog, held.version, live.version)
            except Exception:
                log.exception("index_reload_failed catalog=%s", catalog)
            finally:
                entry.loading = False

    def _spec_of(self, catalog: str) -> str | None:
        return self.model_spec(catalog) if callable(self.model_spec) else self.model_spec

    def _prepare(self, live: LiveIndex) -> LiveIndex:
        base = live.base
        base.execution = self.execution
        o = self.overrides
        if o.nprobe or o.ef_search or o.rerank is not None:
            base.plan = base.plan.with_search(o.nprobe, o.ef_search, o.rerank)
            base.apply_search_params()
        if o.policy is not None:
            base.policy = o.policy
        if self.use_gpu:
            base.place_on_gpu()
        return live

    def _loaded(self, catalog: str, live: LiveIndex, kind: str, seconds: float) -> None:
        self.refused.pop(catalog, None)
        m = self.metrics
        m.inc("lookalike_index_loads_total", catalog=catalog, kind=kind)
        m.set("lookalike_index_load_seconds", seconds, catalog=catalog)
        m.set("lookalike_index_vectors", live.count, catalog=catalog)
        m.set("lookalike_index_deleted", live.deleted, catalog=catalog)
        m.set("lookalike_index_delta_rows", live.delta_rows, catalog=catalog)
        m.replace("lookalike_index_info", 1, keep={"catalog": catalog}, version=live.version)
        log.info(
            "index_loaded catalog=%s version=%s kind=%s vectors=%d ms=%.0f",
            catalog,
            live.version,
            kind,
            live.count,
            seconds * 1000,
        )

    def _evicted(self, catalog: str, entry: _Entry) -> None:
        """An evicted catalog serves nothing: its gauges go (its counters stay)."""
        self.metrics.forget(SERVING_GAUGES, catalog=catalog)

    def _refuse(self, catalog: str, version: str, exc: Exception) -> None:
        self.refused[catalog] = version
        self.metrics.inc("lookalike_index_refused_total", catalog=catalog)
        log.error("index_version_refused catalog=%s version=%s reason=%s", catalog, version, exc)

    def _on_change(self, catalog: str) -> None:
        entry = self.residency.peek(catalog)  # a catalog not resident loads its new state when used
        if entry is not None:
            self._reload(catalog, entry)
