"""Benchmark directories are validated up front; every error names the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from evaluation.benchmark import load_benchmark
from lookalike.errors import ManifestError
from lookalike.types import Box

CATALOG = (
    "item_id,image,title,category\nshirt-1,images/a.jpg,A shirt,shirt\nshoe-1,images/b.jpg,A shoe,shoe\n"
)


def make(tmp_path: Path, lines: list[str], catalog: str = CATALOG) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    for name in ("a.jpg", "b.jpg", "q1.jpg"):
        Image.new("RGB", (64, 48), (10, 20, 30)).save(tmp_path / "images" / name)
    (tmp_path / "catalog.csv").write_text(catalog)
    (tmp_path / "queries.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


def good(**extra: object) -> str:
    obj: dict[str, object] = {"query_id": "q1", "image": "images/q1.jpg", "relevant": ["shirt-1"]}
    obj.update(extra)
    return json.dumps(obj)


def test_loads_a_valid_benchmark(tmp_path: Path) -> None:
    boxes = [{"box": [1, 2, 30, 40], "item_id": "shirt-1", "category": "shirt"}]
    bench = load_benchmark(make(tmp_path, [good(boxes=boxes), "", good(query_id="q2", relevant=["shoe-1"])]))
    assert [q.query_id for q in bench.queries] == ["q1", "q2"]
    assert bench.categories == {"shirt-1": "shirt", "shoe-1": "shoe"}
    assert bench.queries[0].boxes[0].box == Box(1, 2, 30, 40)
    assert bench.queries[1].line == 3
    assert bench.has_boxes and bench.has_categories
    assert len(bench.catalog_sha256) == 64
    assert bench.limited(1).queries == bench.queries[:1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        (json.dumps({"query_id": "q1", "image": "images/q1.jpg"}), "missing key 'relevant'"),
        (good(query_id=7), "query_id must be a non-empty string"),
        (good(relevant="shirt-1"), "relevant must be a non-empty list"),
        (good(relevant=[]), "relevant must be a non-empty list"),
        (good(relevant=["nope"]), "['nope'] are not in catalog.csv"),
        (good(image="images/missing.jpg"), "image 'images/missing.jpg' not found"),
        (good(boxes=[{"box": [1, 2, 3], "item_id": "shirt-1"}]), "boxes[0]: box must be [x1, y1, x2, y2]"),
        (good(boxes=[{"box": [5, 2, 3, 4], "item_id": "shirt-1"}]), "must have x2 > x1"),
        (good(boxes=[{"box": [0, 0, 500, 40], "item_id": "shirt-1"}]), "outside the 64x48 image"),
        (good(boxes=[{"box": [0, 0, 5, 5], "item_id": "nope"}]), "item_id 'nope' is not in catalog.csv"),
        (good(boxes=[{"box": [0, 0, 5, 5], "item_id": "shoe-1"}]), "boxed but not listed in relevant"),
        (good(boxes={"box": [0, 0, 5, 5]}), "boxes must be a list"),
        (good(ignore={"box": [0, 0, 5, 5]}), "ignore must be a list"),
        (good(ignore=[[0, 0, 5, 5], [1, 2, 3]]), "ignore[1] must be [x1, y1, x2, y2] numbers"),
        (good(ignore=[[0, 0, 5, True]]), "ignore[0] must be [x1, y1, x2, y2] numbers"),
        (good(ignore=[[5, 2, 3, 4]]), "ignore[0] [5, 2, 3, 4] must have x2 > x1"),
        (good(ignore=[[0, 0, 65.5, 40]]), "ignore[0] [0, 0, 65.5, 40] lies outside the 64x48 image"),
    ],
)
def test_bad_query_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    root = make(tmp_path, [good(query_id="q0"), line])
    with pytest.raises(ManifestError) as err:
        load_benchmark(root)
    assert "queries.jsonl:2: " in str(err.value)
    assert message in str(err.value)


def test_ignore_regions_load_clipped_and_default_to_none(tmp_path: Path) -> None:
    bench = load_benchmark(
        make(tmp_path, [good(ignore=[[1, 2, 30, 40], [0, 0, 64.5, 48]]), good(query_id="q2")])
    )
    assert bench.queries[0].ignore == (Box(1, 2, 30, 40), Box(0, 0, 64, 48))
    assert bench.queries[1].ignore == ()


def test_duplicate_query_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"queries.jsonl:2: query_id 'q1' already used on line 1"):
        load_benchmark(make(tmp_path, [good(), good()]))


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ("id,image\nx,images/a.jpg\n", "catalog.csv:1: header lacks column(s) ['item_id']"),
        ("item_id,image\nx,images/zzz.jpg\n", "catalog.csv:2: image 'images/zzz.jpg' not found"),
        (
            "item_id,image\nx,images/a.jpg\n,images/b.jpg\n",
            "catalog.csv:3: item_id and image must not be empty",
        ),
        (
            "item_id,image,category\nx,images/a.jpg,a\nx,images/b.jpg,b\n",
            "catalog.csv:3: item 'x' has category",
        ),
        ("item_id,image\n", "the catalog has no rows"),
    ],
)
def test_bad_catalog_row_is_named(tmp_path: Path, catalog: str, message: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_benchmark(make(tmp_path, [good(relevant=["x"])], catalog=catalog))
    assert message in str(err.value)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="benchmark directory not found"):
        load_benchmark(tmp_path / "nope")
    (tmp_path / "catalog.csv").write_text(CATALOG)
    with pytest.raises(ManifestError, match=r"queries\.jsonl: missing"):
        load_benchmark(tmp_path)
