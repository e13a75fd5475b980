"""Recall@10 against queries per second (batch 1, 2 threads), one line per index type and catalog size."""

from __future__ import annotations

import json
from pathlib import Path


def plot(results: list[Path], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 5.5), squeeze=False)
    for ax, path in zip(axes[0], results, strict=True):
        data = json.loads(path.read_text())
        lines: dict[str, list[tuple[float, float]]] = {}
        for row in data["rows"]:
            if row["name"].startswith("filter:"):
                continue
            label = row["name"] + (" (no re-rank)" if "rerank=0" in row["param"] else "")
            lines.setdefault(label, []).append((row["qps_2threads"], row["recall_heldout"]))
        for name, points in lines.items():
            points.sort()
            marker = "*" if name.startswith("auto") else "o"
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=name)
        ax.axhline(0.95, color="grey", linestyle="--", linewidth=1)
        ax.axvline(1000, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("queries/s, batch 1, 2 threads")
        ax.set_ylabel("recall@10 vs exact (held-out queries)")
        ax.set_title(f"{data['n']:,} vectors, {data['dim']}-d (MobileNetV2-like)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
