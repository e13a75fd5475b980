"""The result cache in the real search path: same bytes hit, a new index version misses."""

from __future__ import annotations

import csv
from pathlib import Path

from catalog_ingest import ingest_manifest
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos


def write_manifest(path: Path, photos: list[Path]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image", "title", "category"])
        for p in photos:
            w.writerow([p.stem, str(p), f"Item {p.stem[:6]}", "Shirt"])
    return path


def test_repeated_bytes_hit_the_cache_until_the_catalog_changes(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    photos = clothing_photos(9)
    runtime = make_runtime()
    runtime.serving = True  # the server's runtime: result cache on
    ingest_manifest(
        runtime.ingest_parts(), write_manifest(tmp_path / "a.csv", photos[:8]), "shop", progress=False
    )
    query = photos[0].read_bytes()
    limits = {"max_bytes": 10_000_000, "max_pixels": 10_000_000}

    first = runtime.search.search_bytes(query, SearchRequest("shop", k=3), **limits)
    assert "cache_hit" not in first.timings_ms
    assert first.regions[0].matches[0].item.item_id == photos[0].stem

    second = runtime.search.search_bytes(query, SearchRequest("shop", k=3), **limits)
    assert second.timings_ms.get("cache_hit") == 1.0
    assert second.regions == first.regions

    other_params = runtime.search.search_bytes(query, SearchRequest("shop", k=2), **limits)
    assert "cache_hit" not in other_params.timings_ms

    ingest_manifest(
        runtime.ingest_parts(), write_manifest(tmp_path / "b.csv", photos), "shop", progress=False
    )
    after = runtime.search.search_bytes(query, SearchRequest("shop", k=3), **limits)
    assert "cache_hit" not in after.timings_ms, "a new index version must not serve cached results"
    assert after.index_version != first.index_version
