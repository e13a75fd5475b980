"""Recall@10 against queries per second (batch 1, 2 threads), one line per index type and catalog size.

Rows without re-ranking (recall 0.3-0.84) are left to the tables so the interesting range stays
readable; re-rank variants other than the plan's get their own line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _label(row: dict[str, Any]) -> str | None:
    param = row["param"]
    if row["name"].startswith("filter:") or "rerank=0" in param:
        return None
    if "rerank=" in param:
        return f"{row['name']} (re-rank {param.split('rerank=')[1]})"
    return str(row["name"])


def plot(results: list[Path], target: Path, highlight: dict[int, Path] | None = None) -> None:
    """``highlight``: per catalog size, a results file whose planned row is drawn as a big star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 5.5), squeeze=False)
    for ax, path in zip(axes[0], results, strict=True):
        data = json.loads(path.read_text())
        lines: dict[str, list[tuple[float, float]]] = {}
        for row in data["rows"]:
            label = _label(row)
            if label is not None:
                lines.setdefault(label, []).append((row["qps_2threads"], row["recall_heldout"]))
        for name, points in lines.items():
            points.sort(key=lambda p: p[1])  # by recall: QPS is noisy on a shared machine
            marker = "*" if name.startswith("auto") else "o"
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=name)
        extra = (highlight or {}).get(data["n"])
        if extra is not None:
            for row in json.loads(extra.read_text())["rows"]:
                if row["name"].startswith("auto") and row["param"].startswith("planned"):
                    ax.plot(
                        row["qps_2threads"],
                        row["recall_heldout"],
                        "k*",
                        markersize=16,
                        label=f"served default ({row['param']})",
                    )
        ax.axhline(0.95, color="grey", linestyle="--", linewidth=1)
        ax.axvline(1000, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_ylim(0.85, 1.005)
        ax.set_xlabel("queries/s, batch 1, 2 threads (2 shared cores)")
        ax.set_ylabel("recall@10 vs exact search (held-out queries)")
        ax.set_title(f"{data['n']:,} vectors, {data['dim']}-d (MobileNetV2-like)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
