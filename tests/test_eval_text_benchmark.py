"""The text benchmark: look-alike items that only their brand and name tell apart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from evaluation.benchmark import load_benchmark
from evaluation.datasets.clothing_text import build_clothing_text
from tests.images import CLOTHING


def test_each_target_has_two_look_alikes_sharing_one_of_its_brand_or_name(tmp_path: Path) -> None:
    out = build_clothing_text(tmp_path / "bench", CLOTHING, held_back=3, catalog_size=8, seed=1)
    with (out / "catalog.csv").open(newline="") as f:
        rows = {r["item_id"]: r for r in csv.DictReader(f)}
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    assert len(queries) == 3 and len(rows) == 3 * 3 + 5
    for q in queries:
        (target,) = q["relevant"]
        same_name, same_brand = rows[f"{target}-b"], rows[f"{target}-n"]
        assert same_name["title"] == rows[target]["title"] and same_name["brand"] != rows[target]["brand"]
        assert same_brand["brand"] == rows[target]["brand"] and same_brand["title"] != rows[target]["title"]
        assert (out / q["image"]).is_file() and len(q["boxes"]) == 1
    assert load_benchmark(out).name == "bench"
