"""Process-wide index counters and gauges, rendered in the Prometheus text format for /metrics.

Kept dependency-free: a dict under a lock is all a handful of counters need.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

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
