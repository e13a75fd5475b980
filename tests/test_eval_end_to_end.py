"""A tiny benchmark end to end: generate, ingest (cached), search as the API does, report."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.eval import eval_command
from embedder import Embedder
from evaluation.benchmark import load_benchmark
from evaluation.datasets.clothing_screenshots import build_clothing_screenshots
from evaluation.datasets.grocery import build_grocery
from evaluation.report import write_report
from evaluation.runner import RuntimeFactory, run_benchmark
from lookalike.errors import ManifestError
from lookalike.settings import ApiSettings, DetectorSettings, EmbedderSettings, Settings
from lookalike.types import Box
from service.runtime import Runtime

CPU_EMBEDDER = EmbedderSettings(spec="torchvision:mobilenet_v2", device="cpu", batch_size=16)


@dataclass
class BorrowedEmbedderRuntime(Runtime):
    """A real Runtime whose embedder is the session's already-loaded one (same spec)."""

    borrowed: Embedder | None = None

    @cached_property
    def embedder(self) -> Embedder:
        assert self.borrowed is not None
        return self.borrowed


@pytest.fixture
def factory(embedder: Embedder) -> RuntimeFactory:
    return lambda settings: BorrowedEmbedderRuntime(settings, borrowed=embedder)


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory, clothing_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("bench") / "tiny-shots"
    return build_clothing_screenshots(
        out, clothing_dir, held_back=4, catalog_size=10, max_products=2, seed=3, size=(390, 844)
    )


def settings(tmp_path: Path, detector: str, decode_long_side: int = 1024) -> Settings:
    return Settings(
        data_dir=tmp_path,
        embedder=CPU_EMBEDDER,
        detector=DetectorSettings(spec=detector),
        api=ApiSettings(decode_long_side=decode_long_side),
    )


def test_generated_benchmark_is_valid_and_reproducible(
    tiny_bench: Path, tmp_path: Path, clothing_dir: Path
) -> None:
    bench = load_benchmark(tiny_bench)
    assert len(bench.categories) == 10 and bench.has_boxes and bench.has_categories
    targets = sorted(i for q in bench.queries for i in q.relevant)
    assert len(targets) == 4 and len(set(targets)) == 4  # every target in exactly one screenshot
    for q in bench.queries:
        assert 1 <= len(q.relevant) <= 2 and {b.item_id for b in q.boxes} == q.relevant
    again = build_clothing_screenshots(
        tmp_path / "again",
        clothing_dir,
        held_back=4,
        catalog_size=10,
        max_products=2,
        seed=3,
        size=(390, 844),
    )
    for name in ("catalog.csv", "queries.jsonl", "images/queries/shot-0001.jpg"):
        assert (again / name).read_bytes() == (tiny_bench / name).read_bytes()


def test_generated_ignore_regions_round_trip_and_avoid_products(tiny_bench: Path) -> None:
    lines = [json.loads(t) for t in (tiny_bench / "queries.jsonl").read_text().splitlines() if t.strip()]
    bench = load_benchmark(tiny_bench)
    assert all("ignore" in line for line in lines)
    for line, query in zip(lines, bench.queries, strict=True):
        assert [b.as_list() for b in query.ignore] == line["ignore"]
        for ig in query.ignore:
            assert 0 <= ig.x1 < ig.x2 <= 390 and 0 <= ig.y1 < ig.y2 <= 844
            assert all(ig.iou(t.box) == 0.0 for t in query.boxes)


def test_eval_end_to_end_then_reuses_the_cached_catalog(
    tiny_bench: Path, tmp_path: Path, factory: RuntimeFactory
) -> None:
    bench = load_benchmark(tiny_bench)
    run = run_benchmark(bench, settings(tmp_path, "blocks"), progress=False, make_runtime=factory)
    assert not run.catalog.reused and run.catalog.items == 10
    assert len(run.records) == len(bench.queries)
    report = write_report(run, tmp_path / "report")
    m = report["metrics"]
    # 10 catalog items and k = 20: every item comes back, so recall@20 is exactly 1.
    assert m["recall"]["20"] == 1.0
    assert m["recall"]["1"] >= 0.5  # the very same photo, pasted into a screenshot
    assert 0.0 <= m["detection@iou0.5"]["recall"] <= 1.0
    assert {"detect", "embed", "search", "decode", "total"} <= set(m["latency_ms"])
    assert (
        report["config"]["detector"] == "blocks"
        and report["benchmark"]["catalog_sha256"] == bench.catalog_sha256
    )
    for name in ("report.json", "report.md", "results.jsonl", "recall_at_k.png", "recall_by_category.png"):
        assert (tmp_path / "report" / name).is_file()
    assert json.loads((tmp_path / "report" / "report.json").read_text())["metrics"]["queries"] == len(
        bench.queries
    )

    # Whole-image search of the same queries reuses the ingested catalog (the key ignores the query
    # detector). Like the API, big JPEGs decode at a reduced scale and boxes come back in original pixels.
    small_decode = settings(tmp_path, "none", decode_long_side=400)
    whole = run_benchmark(bench, small_decode, progress=False, make_runtime=factory)
    assert whole.catalog.reused and whole.catalog.key == run.catalog.key
    for rec in whole.records:
        assert rec.image_size == (390, 844)
        assert [r.box for r in rec.outcome.regions] == [Box.full(390, 844)]
    again = run_benchmark(bench, small_decode, progress=False, make_runtime=factory)
    assert [r.outcome.ranking() for r in again.records] == [r.outcome.ranking() for r in whole.records]


def test_a_catalog_row_ingest_rejects_fails_the_eval(
    tiny_bench: Path, tmp_path: Path, factory: RuntimeFactory
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bench, broken)
    first = next((broken / "images" / "catalog").glob("*.jpg"))
    first.write_bytes(b"not a jpeg")
    with pytest.raises(ManifestError, match="could not be ingested"):
        run_benchmark(
            load_benchmark(broken), settings(tmp_path, "none"), progress=False, make_runtime=factory
        )


def test_cli_names_the_bad_line_and_exits_2(tiny_bench: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bench, bad)
    lines = (bad / "queries.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"relevant":[', '"relevant":["no-such-item",')
    (bad / "queries.jsonl").write_text("\n".join(lines) + "\n")
    app = typer.Typer()
    app.command()(eval_command)
    result = CliRunner().invoke(app, [str(bad), "--no-progress"])
    assert result.exit_code == 2
    assert "queries.jsonl:2:" in result.output and "no-such-item" in result.output


def test_grocery_generator_interleaves_classes(tmp_path: Path, shared_dir: Path) -> None:
    out = build_grocery(tmp_path / "grocery", shared_dir / "data" / "grocery", limit=5)
    bench = load_benchmark(out)
    assert len(bench.categories) == 81
    assert bench.categories["Granny-Smith"] == "Apple" and bench.categories["Oatly-Oat-Milk"] == "Oat-Milk"
    relevant = [next(iter(q.relevant)) for q in bench.queries]
    assert relevant == ["Golden-Delicious", "Granny-Smith", "Pink-Lady", "Red-Delicious", "Royal-Gala"]
