"""Warm-up in the background: load the store, models and preloaded indexes without blocking /healthz.

/readyz reports what this found; searches that arrive during warm-up wait for the models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lookalike.errors import NotReadyError
from lookalike.runtime import Runtime

log = logging.getLogger(__name__)

MODEL_WAIT_S = 120.0


@dataclass
class ReadyReport:
    """``checks`` maps each component to "ok", "loading" or the reason it is not usable."""

    ready: bool
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [f"{name}: {state}" for name, state in self.checks.items() if state != "ok"]


class Warmup:
    """Loads the runtime's parts once, in a daemon thread, and remembers what failed."""

    def __init__(self, runtime: Runtime, preload_catalogs: list[str]) -> None:
        self.runtime = runtime
        self.preload_catalogs = list(preload_catalogs)
        self.components: dict[str, str] = {name: "loading" for name in ("database", "detector", "embedder")}
        self._models_done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lookalike-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        steps: list[tuple[str, Callable[[], object]]] = [
            ("database", lambda: self.runtime.store),
            ("detector", lambda: self.runtime.detector),
            ("embedder", lambda: self.runtime.embedder),
        ]
        try:
            for name, load in steps:
                start = time.perf_counter()
                try:
                    load()
                except Exception as exc:
                    self.components[name] = f"failed: {type(exc).__name__}: {exc}"
                    log.exception("warmup_failed component=%s", name)
                    for later, state in self.components.items():
                        if state == "loading":
                            self.components[later] = f"not loaded: {name} failed"
                    return
                self.components[name] = "ok"
                log.info("warmup_loaded component=%s ms=%.0f", name, (time.perf_counter() - start) * 1000)
        finally:
            self._models_done.set()
        for catalog in self.preload_catalogs:
            self._load_catalog(catalog)

    @property
    def models_ok(self) -> bool:
        return self._models_done.is_set() and all(state == "ok" for state in self.components.values())

    def wait_for_models(self, timeout: float = MODEL_WAIT_S) -> None:
        """Block (in a worker thread) until the models are loaded; raise NotReadyError if they cannot be."""
        if not self._models_done.wait(timeout):
            raise NotReadyError(f"models are still loading after {timeout:.0f} s; retry later")
        if not self.models_ok:
            failed = "; ".join(f"{n}: {s}" for n, s in self.components.items() if s != "ok")
            raise NotReadyError(f"the service could not load its models ({failed})")

    def _load_catalog(self, catalog: str) -> str:
        try:
            version, _ = self.runtime.indexes.get(catalog)
        except Exception as exc:
            return f"{type(exc).__name__}: {getattr(exc, 'detail', exc)}"
        return "ok" if version else "no index"

    def report(self) -> ReadyReport:
        """Checks now; an index published since start-up gets loaded here, so readiness heals itself."""
        checks = dict(self.components)
        for catalog in self.preload_catalogs:
            key = f"catalog:{catalog}"
            checks[key] = self._load_catalog(catalog) if self.models_ok else "waiting for models"
        return ReadyReport(ready=all(state == "ok" for state in checks.values()), checks=checks)


__all__ = ["ReadyReport", "Warmup"]
