"""Reports from a hand-made run: files, numbers and the failure gallery, without any model."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from evaluation.benchmark import load_benchmark
from evaluation.metrics import QueryOutcome, RegionOutcome
from evaluation.report import worst_records, write_report
from evaluation.runner import CatalogCache, EvalRun, QueryRecord, catalog_image_paths
from lookalike.settings import Settings
from lookalike.types import Box

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "grey": (128, 128, 128)}


def make_run(tmp_path: Path) -> EvalRun:
    root = tmp_path / "bench"
    (root / "images").mkdir(parents=True)
    for name, colour in COLOURS.items():
        Image.new("RGB", (40, 30), colour).save(root / "images" / f"{name}.png")
    (root / "catalog.csv").write_text(
        "item_id,image,category\n"
        + "".join(f"{n},images/{n}.png,{'warm' if n == 'red' else 'cool'}\n" for n in COLOURS)
    )
    queries = [
        {"query_id": "hit", "image": "images/red.png", "relevant": ["red"]},
        # Two relevant items; the one found (green, rank 2) is not the alphabetically first (blue).
        {
            "query_id": "multi",
            "image": "images/grey.png",
            "relevant": ["blue", "green"],
            "boxes": [
                {"box": [0, 0, 20, 30], "item_id": "green"},
                {"box": [20, 0, 40, 30], "item_id": "blue"},
            ],
        },
        {"query_id": "miss", "image": "images/green.png", "relevant": ["green"]},
        {"query_id": "empty", "image": "images/blue.png", "relevant": ["blue"]},
    ]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    bench = load_benchmark(root)
    full = Box(0, 0, 40, 30)
    regions = {
        "hit": (RegionOutcome(full, (("red", 0.9), ("grey", 0.5))),),
        "multi": (RegionOutcome(Box(20, 0, 40, 30), (("red", 0.8), ("green", 0.7))),),
        "miss": (RegionOutcome(full, (("red", 0.95), ("grey", 0.9), ("blue", 0.2))),),
        "empty": (),
    }
    records = [
        QueryRecord(
            q, QueryOutcome(q.query_id, q.relevant, regions[q.query_id], q.boxes, {"embed": 10.0}), (40, 30)
        )
        for q in bench.queries
    ]
    return EvalRun(
        benchmark=bench,
        settings=Settings(data_dir=tmp_path / "data"),
        catalog=CatalogCache("k", tmp_path / "data", False, 1.0, "v1", 4),
        records=records,
        embedder_spec="test@none",
        detector_spec="none",
        wall_s=2.0,
        total_queries=4,
        git_commit="abc1234",
        item_images=catalog_image_paths(bench),
    )


def test_worst_queries_are_misses_ordered_worst_first(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    # miss (not found, top score 0.95) before empty (not found, no score), then multi (rank 2).
    assert [r.query.query_id for r in worst_records(run.records, 10)] == ["miss", "empty", "multi"]
    assert [r.query.query_id for r in worst_records(run.records, 1)] == ["miss"]


def test_report_files_numbers_and_gallery(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = tmp_path / "report"
    report = write_report(run, out, gallery=5)
    m = report["metrics"]
    assert m["recall"] == {"1": 0.25, "5": 0.5, "10": 0.5, "20": 0.5}
    assert m["no_results"] == 1
    assert m["category_recall"]["1"] == 0.25  # only "hit": red is the one warm item
    assert m["category_recall"]["5"] == 0.75  # multi finds cool green, miss finds cool grey
    # The one region is exactly the blue box (a detection match) but finds green: region recall 0.
    assert m["detection@iou0.5"]["matched"] == 1 and m["region_recall"]["20"] == 0.0
    assert report["benchmark"]["queries"] == 4 and report["config"]["embedder"] == "test@none"
    assert report["config"]["git_commit"] == "abc1234"
    assert json.loads((out / "report.json").read_text()) == report
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["query_id"], r["first_hit_rank"]) for r in lines] == [
        ("hit", 1),
        ("multi", 2),
        ("miss", None),
        ("empty", None),
    ]
    gallery = sorted(p.name for p in (out / "failures").glob("*.png"))
    assert gallery == ["01-miss.png", "02-empty.png", "03-multi.png"]
    md = (out / "report.md").read_text()
    assert (
        "![miss](failures/01-miss.png)" in md and "recall_at_k.png" in md and "recall_by_category.png" in md
    )
