"""Warm-up in the background: load the store, models and preloaded indexes without blocking /healthz.

/readyz reports what this found; searches that arrive during warm-up wait for the models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from index.presence import index_files_problem, published_catalogs
from lookalike.errors import NotReadyError
from lookalike.redact import public_reason
from service.runtime import Runtime

log = logging.getLogger(__name__)

MODEL_WAIT_S = 120.0
RETRY_S = 10.0


@dataclass
class ReadyReport:
    """``checks`` maps each component to "ok", "loading" or the reason it is not usable."""

    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    runtimes: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [f"{name}: {state}" for name, state in self.checks.items() if state != "ok"]


class Warmup:
    """Loads the runtime's parts in a daemon thread; a failed part is retried (a database that was
    not up yet) at most every ``retry_s`` seconds, when /readyz or a search asks."""

    def __init__(
        self,
        runtime: Runtime,
        preload_catalogs: list[str],
        on_database: Sequence[Callable[[], object]] = (),
    ) -> None:
        """``on_database``: what else needs the database once it answers (the job queue's migration)."""
        self.runtime = runtime
        self.on_database = list(on_database)
        self.preload_catalogs = list(preload_catalogs)
        self.components: dict[str, str] = {name: "loading" for name in ("database", "detector", "embedder")}
        self.runtimes: dict[str, str] = {}
        """Engine and precision each loaded model runs in, and why (``auto``'s measurement)."""
        self._models_done = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started_at = 0.0
        self.retry_s = RETRY_S

    def start(self) -> None:
        with self._lock:
            self._begin()

    def _begin(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._models_done.clear()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="lookalike-warmup", daemon=True)
        self._thread.start()

    def _retry_if_failed(self) -> None:
        with self._lock:
            due = time.monotonic() - self._started_at >= self.retry_s
            if due and self._models_done.is_set() and not self.models_ok:
                log.info("warmup_retry failed=%s", [n for n, s in self.components.items() if s != "ok"])
                self._begin()

    def _run(self) -> None:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("database", lambda: (self.runtime.store, [step() for step in self.on_database])),
            ("detector", lambda: self.runtime.detector),
            ("embedder", lambda: self.runtime.embedder),
        ]
        try:
            for name, load in steps:
                if self.components[name] == "ok":
                    continue
                start = time.perf_counter()
                try:
                    loaded = load()
                except Exception as exc:  # the models do not need the database: load them anyway
                    self.components[name] = f"failed: {public_reason(exc)}"
                    log.exception("warmup_failed component=%s", name)
                    continue
                self.components[name] = "ok"
                choice = getattr(getattr(loaded, "inner", loaded), "runtime_choice", None)
                if choice is not None:
                    self.runtimes[name] = choice.describe()
                log.info(
                    "warmup_loaded component=%s ms=%.0f runtime=%s",
                    name,
                    (time.perf_counter() - start) * 1000,
                    choice.describe() if choice is not None else "-",
                )
        finally:
            self._models_done.set()
        if not self.models_ok:
            return
        if self.models_ok and self.runtime.settings.understanding.ocr != "off":
            try:  # the first query that reads text must not pay for loading the OCR models
                _ = self.runtime.screen_reader.reader
            except Exception:
                log.exception("warmup_failed component=ocr (searches read no text until it loads)")
        for catalog in self.preload_catalogs:
            self._load_catalog(catalog)

    @property
    def models_ok(self) -> bool:
        return self._models_done.is_set() and all(state == "ok" for state in self.components.values())

    def wait_for_models(self, timeout: float = MODEL_WAIT_S) -> None:
        """Block (in a worker thread) until the models are loaded; raise NotReadyError if they cannot be."""
        self._retry_if_failed()
        if not self._models_done.wait(timeout):
            raise NotReadyError(f"models are still loading after {timeout:.0f} s; retry later")
        if not self.models_ok:
            failed = "; ".join(f"{n}: {s}" for n, s in self.components.items() if s != "ok")
            raise NotReadyError(f"the service could not load its models ({failed})")

    def _load_catalog(self, catalog: str) -> str:
        try:
            version, _ = self.runtime.indexes.get(catalog)
        except Exception as exc:
            return public_reason(exc)
        return "ok" if version else "no index"

    def _ping_database(self) -> str:
        """The store loaded once; is the database still there? (It may go away and come back.)"""
        try:
            self.runtime.store.ping()
        except Exception as exc:
            log.warning("readyz_database_unreachable error=%s", exc)
            return f"unreachable: {public_reason(exc)}"
        return "ok"

    def _index_files(self) -> dict[str, str]:
        """Every published catalog, preloaded or not, whose live index files are missing or cut
        short on disk (a search of it would fail): a stat per file, no loading, no hashing."""
        store = self.runtime.index_store
        problems: dict[str, str] = {}
        for catalog in published_catalogs(store):
            try:
                problem = index_files_problem(store, catalog)
            except OSError as exc:
                problem = f"index files unreadable: {public_reason(exc)}"
            if problem:
                problems[f"catalog:{catalog}"] = problem
        return problems

    def report(self) -> ReadyReport:
        """Checks now; an index published since start-up gets loaded here, so readiness heals itself.
        Every published catalog's files are checked too, not only the preloaded ones'."""
        self._retry_if_failed()
        checks = dict(self.components)
        if checks["database"] == "ok":
            checks["database"] = self._ping_database()
        if self.models_ok:
            checks.update(self.runtime.model_servers())
        for catalog in self.preload_catalogs:
            key = f"catalog:{catalog}"
            checks[key] = self._load_catalog(catalog) if self.models_ok else "waiting for models"
        checks.update(self._index_files())
        return ReadyReport(
            ready=all(state == "ok" for state in checks.values()), checks=checks, runtimes=dict(self.runtimes)
        )


__all__ = ["ReadyReport", "Warmup"]
