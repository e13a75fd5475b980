"""The grocery benchmark's held-out classes and labelled photos, and ``lookalike eval --adapt``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from evaluation.datasets.grocery import build_grocery
from lookalike.splits import grocery_held_out_classes


def test_held_out_build_keeps_only_classes_never_trained_on(shared_dir: Path, tmp_path: Path) -> None:
    grocery = shared_dir / "data" / "grocery"
    out = build_grocery(tmp_path / "g", grocery, classes="held-out", limit=30)
    held = set(grocery_held_out_classes(grocery))
    with (out / "catalog.csv").open() as f:
        assert {r["item_id"] for r in csv.DictReader(f)} == held
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    assert len(queries) == 30 and all(set(q["relevant"]) <= held for q in queries)
    with (out / "adapt.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["item_id"] for r in rows} == held
    assert all("/train/" in r["image"] and Path(r["image"]).is_file() for r in rows)


@pytest.mark.slow
def test_eval_adapt_fits_an_adapter_and_measures_with_it(
    shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = build_grocery(tmp_path / "g", shared_dir / "data" / "grocery", classes="held-out", limit=12)
    with (out / "adapt.csv").open() as f:
        rows = list(csv.DictReader(f))
    few = [r for i, r in enumerate(rows) if sum(1 for x in rows[:i] if x["item_id"] == r["item_id"]) < 3]
    labelled = tmp_path / "labelled.csv"
    with labelled.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["item_id", "image"])
        writer.writeheader()
        writer.writerows(few)
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    report_dir = tmp_path / "report"
    args = ["eval", str(out), "--detector", "none", "--adapt", str(labelled), "--as-references"]
    result = CliRunner().invoke(app, [*args, "--no-progress", "--out", str(report_dir)])
    assert result.exit_code == 0, result.output
    assert "adapter+references" in result.output and "+adapter-" in result.output
    report = json.loads((report_dir / "report.json").read_text())
    assert "+adapter-" in report["config"]["embedder"]
    assert list((report_dir / "adapter").glob("adapter-*.pt"))
    fit = json.loads((report_dir / "adapt-report.json").read_text())
    assert fit["photos"] == len(few) and fit["catalog_items"] == 20
