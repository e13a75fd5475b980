"""Index metrics for /metrics: the process-wide per-catalog load counters (a dict under a lock,
in the Prometheus text format) and the residency series (``prometheus_client``, per runtime).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HELP: Mapping[str, tuple[str, str]] = {
    "lookalike_index_loads_total": (
        "counter",
        "Index states loaded (kind=base: a new version; kind=delta: new segments).",
    ),
    "lookalike_index_refused_total": (
        "counter",
        "Versions or segments refused (corrupt, mismatched model or shape).",
    ),
    "lookalike_index_swaps_total": ("counter", "Times the served index of a catalog was swapped."),
    "lookalike_index_load_seconds": ("gauge", "Duration of the last successful load."),
    "lookalike_index_vectors": ("gauge", "Live vectors served (base minus deleted plus delta rows)."),
    "lookalike_index_deleted": ("gauge", "Base rows hidden by tombstones."),
    "lookalike_index_delta_rows": ("gauge", "Rows served from delta segments (compaction folds them in)."),
    "lookalike_index_info": ("gauge", "The version being served (value 1)."),
}


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            series = self._values.setdefault(name, {})
            series[_key(labels)] = series.get(_key(labels), 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values.setdefault(name, {})[_key(labels)] = value

    def replace(self, name: str, value: float, keep: Mapping[str, str], **labels: str) -> None:
        """Set one series and drop the others that share ``keep`` labels (an info gauge's old version)."""
        with self._lock:
            series = self._values.setdefault(name, {})
            for key in [k for k in series if all(dict(k).get(n) == v for n, v in keep.items())]:
                del series[key]
            series[_key({**keep, **labels})] = value

    def forget(self, names: tuple[str, ...], **labels: str) -> None:
        """Drop the series of ``names`` carrying ``labels`` (an evicted catalog's gauges)."""
        with self._lock:
            for name in names:
                series = self._values.get(name, {})
                for key in [k for k in series if all(dict(k).get(n) == v for n, v in labels.items())]:
                    del series[key]

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get(name, {}).get(_key(labels), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name in sorted(self._values):
                kind, text = HELP.get(name, ("untyped", name))
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                for key, value in sorted(self._values[name].items()):
                    label = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                    lines.append(f"{name}{{{label}}} {value:g}" if label else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


METRICS = Metrics()


class ResidencyMetrics:
    """Index residency as Prometheus series (``index.residency.ResidencyObserver``), registered in
    the runtime's own collector registry so two runtimes in one process do not share counts."""

    def __init__(self, registry: CollectorRegistry, budget_bytes: int = 0) -> None:
        self.resident_catalogs = Gauge(
            "lookalike_index_resident_catalogs", "Catalog indexes in memory now.", registry=registry
        )
        self.resident_bytes = Gauge(
            "lookalike_index_resident_bytes", "Bytes the resident indexes take.", registry=registry
        )
        self.budget = Gauge(
            "lookalike_index_budget_bytes",
            "The residency budget (residency.budget_bytes).",
            registry=registry,
        )
        self.budget.set(budget_bytes)
        self.load_seconds = Histogram(
            "lookalike_index_load_duration_seconds",
            "Time to load a catalog's index on a miss (read, verify, prepare).",
            buckets=LOAD_BUCKETS,
            registry=registry,
        )
        self.hits = Counter(
            "lookalike_index_hits", "Searches whose catalog index was resident.", registry=registry
        )
        self.misses = Counter(
            "lookalike_index_misses",
            "Searches that found their catalog index not resident (loaded it, or waited for a load).",
            registry=registry,
        )
        self.evictions = Counter(
            "lookalike_index_evictions",
            "Catalog indexes evicted to stay under the budget.",
            registry=registry,
        )

    def hit(self, key: str) -> None:
        self.hits.inc()

    def miss(self, key: str) -> None:
        self.misses.inc()

    def loaded(self, key: str, seconds: float) -> None:
        self.load_seconds.observe(seconds)

    def evicted(self, key: str) -> None:
        self.evictions.inc()

    def resident(self, count: int, nbytes: int) -> None:
        self.resident_catalogs.set(count)
        self.resident_bytes.set(nbytes)


LOAD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
