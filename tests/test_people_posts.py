"""The people-posts benchmark: built from the test split only, every worn garment a catalog item
with its box in the query, excluded items and cut garments as ignore regions; a valid benchmark."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.benchmark import load_benchmark
from evaluation.datasets.people_posts import build_people_posts
from evaluation.synth.people_screen import KINDS


def test_people_posts_is_a_valid_benchmark_of_test_split_garments(tmp_path: Path, shared_dir: Path) -> None:
    data = shared_dir / "data"
    out = build_people_posts(tmp_path / "pp", data / "people", data / "clothing", catalog_size=120, limit=8)
    bench = load_benchmark(out)  # validates every box against its image and the catalog
    worn = {i for i in bench.categories if i.startswith("p")}
    assert worn and all(701 <= int(i[1:5]) <= 708 for i in worn)
    assert len(bench.categories) == 120
    assert 1 <= len(bench.queries) <= 8
    for q in bench.queries:
        assert q.boxes and {t.item_id for t in q.boxes} == set(q.relevant) <= worn
        assert all(t.category == bench.categories[t.item_id] for t in q.boxes)
    rows = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} <= set(KINDS)
    assert sum(len(r["ignore"]) for r in rows) > 0  # stockings, belts, garments cut away
