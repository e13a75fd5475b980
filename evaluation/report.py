"""Write what an eval run measured: report.json, results.jsonl, report.md and its PNG plots.

``report.json`` holds every metric and the full configuration (models, detector, git commit,
benchmark hashes), so two reports can be compared without guessing how they were made.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image

from evaluation.metrics import (
    QueryOutcome,
    category_recall_at_k,
    recall_at_k,
    region_for,
    region_recall_at_k,
    summarise,
)
from evaluation.runner import SEARCH_K, EvalRun, QueryRecord
from lookalike.types import Box

GALLERY_SIZE = 12
THUMB = 160


def build_report(run: EvalRun) -> dict[str, Any]:
    bench, s = run.benchmark, run.settings
    return {
        "benchmark": {
            "name": bench.name,
            "root": str(bench.root.resolve()),
            "catalog_sha256": bench.catalog_sha256,
            "queries_sha256": bench.queries_sha256,
            "queries": len(run.records),
            "queries_in_file": run.total_queries,
            "catalog_items": len(bench.categories),
        },
        "config": {
            "embedder": run.embedder_spec,
            "embedder_settings": s.embedder.model_dump(mode="json"),
            "detector": run.detector_spec,
            "detector_settings": s.detector.model_dump(mode="json"),
            "search_settings": s.search.model_dump(mode="json"),
            "catalog_detector": s.ingest.catalog_detector,
            "index_factory": s.index.factory,
            "search_k": SEARCH_K,
            "git_commit": run.git_commit,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "catalog_cache": {
            "key": run.catalog.key,
            "folder": str(run.catalog.data_dir),
            "reused": run.catalog.reused,
            "ingest_s": round(run.catalog.ingest_s, 2),
            "index_version": run.catalog.index_version,
            "items": run.catalog.items,
        },
        "metrics": summarise(run.outcomes, bench.categories),
        "wall_s": round(run.wall_s, 2),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_report(run: EvalRun, out: Path, *, gallery: int = GALLERY_SIZE) -> dict[str, Any]:
    """Write everything under ``out`` and return the report dict."""
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(run)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    _write_results(run, out / "results.jsonl")
    plots = {"recall": _plot_recall_curve(run, out / "recall_at_k.png")}
    if run.benchmark.has_categories:
        plots["category"] = _plot_category_bars(report, out / "recall_by_category.png")
    failures = _write_gallery(run, out / "failures", gallery)
    (out / "report.md").write_text(_markdown(report, plots, failures, out))
    return report


def _write_results(run: EvalRun, path: Path) -> None:
    """One line per query: what came back, for digging into single cases."""
    with path.open("w") as f:
        for rec in run.records:
            o = rec.outcome
            f.write(
                json.dumps(
                    {
                        "query_id": o.query_id,
                        "relevant": sorted(o.relevant),
                        "first_hit_rank": o.first_hit_rank(),
                        "ranking": o.ranking()[:10],
                        "regions": [
                            {
                                "box": [round(v, 1) for v in r.box.as_list()],
                                "top": [[i, round(sc, 4)] for i, sc in r.matches[:5]],
                            }
                            for r in o.regions
                        ],
                        "timings_ms": {k: round(v, 2) for k, v in o.timings_ms.items()},
                    }
                )
                + "\n"
            )


# --- plots --------------------------------------------------------------------------------


def _plot_recall_curve(run: EvalRun, path: Path) -> str:
    ks = list(range(1, SEARCH_K + 1))
    outcomes = run.outcomes
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(ks, [recall_at_k(outcomes, k) for k in ks], marker="o", ms=3, label="item recall@k")
    if run.benchmark.has_categories:
        cats = run.benchmark.categories
        ax.plot(ks, [category_recall_at_k(outcomes, cats, k) for k in ks], ls="--", label="category recall@k")
    if run.benchmark.has_boxes:
        ax.plot(ks, [region_recall_at_k(outcomes, k) for k in ks], ls=":", label="region recall@k")
    ax.set_xlabel("k")
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.02)
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"{run.benchmark.name}: {run.embedder_spec.split('@')[0]}, detector {run.detector_spec}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def _plot_category_bars(report: dict[str, Any], path: Path) -> str:
    by_cat: dict[str, dict[str, float]] = report["metrics"]["recall_by_category@10"]
    names = sorted(by_cat, key=lambda c: by_cat[c]["recall"])
    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.22 * len(names) + 1)), dpi=100)
    ax.barh(names, [by_cat[c]["recall"] for c in names])
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([f"{c} ({int(by_cat[c]['queries'])})" for c in names], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("recall@10 (queries)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


# --- failure gallery ----------------------------------------------------------------------


def worst_records(records: list[QueryRecord], n: int) -> list[QueryRecord]:
    """Misses at rank 1, worst first: not found at all, then found late, then confident mistakes."""

    def badness(rec: QueryRecord) -> tuple[int, float]:
        rank = rec.outcome.first_hit_rank()
        top = max((s for r in rec.outcome.regions for _, s in r.matches[:1]), default=0.0)
        return (rank if rank is not None else SEARCH_K + 1, top)

    misses = [r for r in records if r.outcome.first_hit_rank() != 1]
    return sorted(misses, key=badness, reverse=True)[:n]


def _query_crop(rec: QueryRecord) -> tuple[Image.Image, str]:
    """The region that produced the top result (what search saw), else the first truth box, else all."""
    o = rec.outcome
    with Image.open(rec.query.image) as src:
        img = src.convert("RGB")
        best = max(o.regions, key=lambda r: r.matches[0][1] if r.matches else float("-inf"), default=None)
        if best is None and o.truth_boxes:
            best = region_for(o.truth_boxes[0].box, o.regions)
        box = best.box if best is not None else Box.full(img.width, img.height)
        b = box.clipped(img.width, img.height)
        return img.crop((int(b.x1), int(b.y1), int(b.x2), int(b.y2))), "query region"


def _thumb(path: Path | None) -> Image.Image:
    if path is None or not path.is_file():
        return Image.new("RGB", (THUMB, THUMB), (200, 200, 200))
    with Image.open(path) as img:
        return img.convert("RGB")


def _write_gallery(run: EvalRun, folder: Path, n: int) -> list[tuple[str, str]]:
    """One PNG row per failing query: query crop | wrong top 3 | the right item."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    written: list[tuple[str, str]] = []
    for i, rec in enumerate(worst_records(run.records, n), 1):
        o = rec.outcome
        scores = dict(_best_scores(o))
        wrong = [item for item in o.ranking() if item not in o.relevant][:3]
        rank = o.first_hit_rank()
        right = o.ranking()[rank - 1] if rank else sorted(o.relevant)[0]
        crop, label = _query_crop(rec)
        panels = [(crop, f"{label}\n{o.query_id}")]
        panels += [
            (_thumb(run.item_images.get(w)), f"#{o.ranking().index(w) + 1} {w}\n{scores[w]:.3f}")
            for w in wrong
        ]
        right_label = f"right: {right}\n" + (f"rank {rank}, {scores[right]:.3f}" if rank else "not in top 20")
        panels.append((_thumb(run.item_images.get(right)), right_label))
        fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6), dpi=90)
        for ax, (img, title) in zip(axes, panels, strict=True):
            img.thumbnail((THUMB * 2, THUMB * 2))
            ax.imshow(img)
            ax.set_title(_short(title), fontsize=7)
            ax.axis("off")
        fig.tight_layout()
        name = f"{i:02d}-{_safe(o.query_id)}.png"
        fig.savefig(folder / name)
        plt.close(fig)
        written.append((o.query_id, f"{folder.name}/{name}"))
    return written


def _best_scores(o: QueryOutcome) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for r in o.regions:
        for item, score in r.matches:
            best[item] = max(score, best.get(item, float("-inf")))
    return list(best.items())


def _short(text: str, width: int = 28) -> str:
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.split("\n"))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


# --- markdown -----------------------------------------------------------------------------


def _markdown(
    report: dict[str, Any], plots: dict[str, str], failures: list[tuple[str, str]], out: Path
) -> str:
    m, c, b = report["metrics"], report["config"], report["benchmark"]
    cache = report["catalog_cache"]
    catalog = "reused" if cache["reused"] else f"ingested in {cache['ingest_s']} s"
    lines = [
        f"# Evaluation: {b['name']}",
        "",
        f"{b['queries']} queries (of {b['queries_in_file']}), {b['catalog_items']} catalog items; "
        f"embedder `{c['embedder']}`, detector `{c['detector']}`, "
        f"catalog detector `{c['catalog_detector']}`, index `{c['index_factory']}`; "
        f"commit `{c['git_commit']}`; {report['wall_s']} s wall (catalog {catalog}).",
        "",
        "| metric | @1 | @5 | @10 | @20 |",
        "|---|---|---|---|---|",
        _row("item recall", m["recall"]),
    ]
    if "category_recall" in m:
        lines.append(_row("category recall", m["category_recall"]))
    if "region_recall" in m:
        lines.append(_row("region recall", m["region_recall"]))
    lines += [
        "",
        f"mAP@10 {m['map@10']:.3f}, MRR {m['mrr']:.3f}, {m['regions_per_query']:.2f} regions per query, "
        f"{m['no_results']} queries with no results.",
    ]
    if "detection@iou0.5" in m:
        d = m["detection@iou0.5"]
        lines += [
            "",
            f"Detector at IoU >= 0.5: box recall {d['recall']:.3f}, precision {d['precision']:.3f} "
            f"({d['matched']} of {d['truth_boxes']} true boxes, {d['detected_boxes']} searched regions, "
            f"{d.get('ignored_detections', 0)} ignored: mostly inside non-catalog photos).",
        ]
    lines += ["", "| stage | p50 ms | p95 ms | mean ms |", "|---|---|---|---|"]
    for stage, v in m["latency_ms"].items():
        lines.append(f"| {stage} | {v['p50']:.1f} | {v['p95']:.1f} | {v['mean']:.1f} |")
    lines += ["", f"![recall@k]({plots['recall']})"]
    if "category" in plots:
        lines += ["", f"![recall by category]({plots['category']})"]
    if failures:
        lines += ["", "## Worst queries", "", "Query region, the wrong top 3, and the right item:", ""]
        for qid, path in failures:
            lines += [f"![{qid}]({path})", ""]
    return "\n".join(lines) + "\n"


def _row(name: str, values: dict[str, float]) -> str:
    return f"| {name} | " + " | ".join(f"{values[k]:.3f}" for k in ("1", "5", "10", "20")) + " |"


__all__ = ["build_report", "worst_records", "write_report"]
