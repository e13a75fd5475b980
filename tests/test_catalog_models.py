"""Per-catalog models: a catalog may name its own detector and embedder; catalogs naming the same
spec share one loaded model, kept under ``residency.max_models`` like indexes under their budget."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from catalog_ingest import ingest_manifest
from lookalike.imaging import decode_image
from lookalike.settings import CatalogModelChoice, ResidencySettings
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos


def write_manifest(path: Path, photos: list[Path]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image", "category"])
        w.writerows([p.stem, str(p), "Shirt"] for p in photos)
    return path


def test_catalogs_naming_the_same_detector_share_it_and_the_least_recent_model_leaves(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(
        catalog_models={
            "posters": CatalogModelChoice(detector="blocks"),
            "flyers": CatalogModelChoice(detector="blocks"),
            "rooms": CatalogModelChoice(detector="coco"),
        },
        residency=ResidencySettings(max_models=1),
    )
    models = runtime.models
    assert models.for_catalog("shop") is None  # the server's own models
    posters, flyers = models.for_catalog("posters"), models.for_catalog("flyers")
    assert posters is not None and flyers is not None
    assert posters.detector is flyers.detector and posters.detector.spec.startswith("blocks")
    assert posters.detector_settings.spec == "blocks" and posters.embedder is runtime.embedder
    assert [key.split(":")[0] for key, _ in models.pool.resident()] == ["detector"]
    rooms = models.for_catalog("rooms")
    assert rooms is not None and rooms.detector is not posters.detector
    assert len(models.pool.resident()) == 1 and '"coco"' in models.pool.resident()[0][0]  # blocks left
    again = models.for_catalog("flyers")
    assert again is not None and again.detector is not posters.detector  # loaded afresh, once


@pytest.mark.slow
def test_a_catalog_with_its_own_embedder_is_ingested_and_searched_with_it(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    runtime = make_runtime(catalog_models={"lite": CatalogModelChoice(embedder="efficientnet_lite0")})
    photos = clothing_photos(6)
    manifest = write_manifest(tmp_path / "items.csv", photos)
    for catalog in ("lite", "shop"):
        report = ingest_manifest(runtime.ingest_parts(catalog), manifest, catalog, progress=False)
        assert report.loaded_items == 6, report.summary()
    lite_spec = runtime.models.embedder_for("lite").spec
    assert lite_spec != runtime.embedder.spec
    built = {
        c: runtime.index_store.read_manifest(c, runtime.index_store.current_version(c) or "").model_spec
        for c in ("lite", "shop")
    }
    assert built == {"lite": lite_spec, "shop": runtime.embedder.spec}
    image = decode_image(photos[2].read_bytes())
    for catalog in ("lite", "shop"):
        result = runtime.search.search(image, SearchRequest(catalog=catalog, k=3, regions="none"))
        assert result.regions[0].matches[0].item.item_id == photos[2].stem
