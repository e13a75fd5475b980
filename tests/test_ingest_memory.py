"""A long manifest is streamed: ingest memory does not grow with the number of rows, and an item
the run has forgotten is still checked against what it wrote (bench/manifest_memory.py measures
a million rows)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import pytest

from catalog_ingest import ingest_manifest, pipeline
from service.runtime import Runtime
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos

pytestmark = pytest.mark.slow
LEDGER = 150
"""Items the ledger keeps in this test (LEDGER_ITEMS scaled down with the manifests)."""


def write_rows(path: Path, photos: list[Path], rows: int, extra: list[list[str]] | None = None) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "image", "title", "price"])
        for n in range(rows):
            writer.writerow([f"sku-{n:06d}", str(photos[n % len(photos)]), f"Item {n}", "9.99"])
        writer.writerows(extra or [])
    return path


def peak_bytes(runtime: Runtime, manifest: Path, catalog: str) -> int:
    tracemalloc.start()
    try:
        report = ingest_manifest(runtime.ingest_parts(), manifest, catalog, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.embedded_images == 0 and not report.rejects  # only the rows' bookkeeping
    return peak


def test_ingest_memory_does_not_grow_with_the_manifest(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "LEDGER_ITEMS", LEDGER)
    photos = clothing_photos(3)
    runtime = make_runtime()
    ingest_manifest(
        runtime.ingest_parts(), write_rows(tmp_path / "warm.csv", photos, 3), "warm", progress=False
    )
    short = peak_bytes(runtime, write_rows(tmp_path / "short.csv", photos, 300), "short")
    long = peak_bytes(runtime, write_rows(tmp_path / "long.csv", photos, 2400), "long")
    # 2,100 more rows: about 3.3 kB each when the manifest, every item and, while publishing,
    # every item's stored row were held (7 MB); streamed, only the loaded item ids grow (0.15 kB)
    assert long - short < 1_000_000, (short, long)


def test_a_forgotten_item_is_still_checked_against_what_the_run_wrote(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "LEDGER_ITEMS", LEDGER)
    photos = clothing_photos(2)
    late = [
        ["sku-000000", str(photos[0]), "Another title", "9.99"],  # conflicts with row 2
        ["sku-000001", str(photos[1]), "", ""],  # agrees (blanks never conflict)
    ]
    runtime = make_runtime()
    manifest = write_rows(tmp_path / "m.csv", photos, 2 * LEDGER, late)
    report = ingest_manifest(runtime.ingest_parts(), manifest, "shop", progress=False)
    assert report.loaded_items == 2 * LEDGER
    assert [r.row for r in report.rejects] == [2 * LEDGER + 2]
    assert "conflicting metadata for item 'sku-000000': title 'Another title' here, 'Item 0'" in (
        report.rejects[0].reason
    )
    assert runtime.store.find_items("shop", ["sku-000000"])["sku-000000"].title == "Item 0"
