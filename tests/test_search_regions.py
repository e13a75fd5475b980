"""Every product in the picture is searched: a shop grid of 8 yields 8 regions with the shipped
detector, and ``regions=none|auto|all`` picks the whole image, the products, or both."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from catalog_ingest import ingest_manifest
from evaluation.synth.grid import compose_grid
from lookalike.errors import InvalidParameterError
from lookalike.settings import DetectorSettings
from lookalike.types import Box
from service.runtime import Runtime
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos
from tests.test_search_cache import write_manifest

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}


@pytest.fixture(scope="module")
def grid_shop(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return clothing_photos(8, start=40)


@pytest.fixture
def garment_runtime(make_runtime: RuntimeFactory, grid_shop: list[Path], tmp_path: Path) -> Runtime:
    runtime = make_runtime(detector=DetectorSettings(spec="garment-yolo"))
    ingest_manifest(
        runtime.ingest_parts(), write_manifest(tmp_path / "grid.csv", grid_shop), "grid", progress=False
    )
    return runtime


def _grid(photos: list[Path]) -> tuple[bytes, list[Box]]:
    shot = compose_grid([Image.open(p).convert("RGB") for p in photos], random.Random(8))
    return shot.jpeg, shot.boxes


def test_a_grid_of_eight_products_searches_eight_regions(
    garment_runtime: Runtime, grid_shop: list[Path]
) -> None:
    jpeg, boxes = _grid(grid_shop)
    result = garment_runtime.search.search_bytes(jpeg, SearchRequest("grid", k=1), **LIMITS)
    assert len(result.regions) == 8
    found = {}
    for truth, photo in zip(boxes, grid_shop, strict=True):
        best = max(result.regions, key=lambda r: truth.iou(r.region.box))
        assert truth.iou(best.region.box) >= 0.5
        found[photo.stem] = best.matches[0].item.item_id
    assert sum(k == v for k, v in found.items()) >= 7  # each card finds its own item


def test_regions_none_auto_all(garment_runtime: Runtime, grid_shop: list[Path]) -> None:
    jpeg, _ = _grid(grid_shop)
    search = garment_runtime.search
    whole = search.search_bytes(jpeg, SearchRequest("grid", k=1, regions="none"), **LIMITS)
    auto = search.search_bytes(jpeg, SearchRequest("grid", k=1, regions="auto"), **LIMITS)
    both = search.search_bytes(jpeg, SearchRequest("grid", k=1, regions="all"), **LIMITS)
    full = [0.0, 0.0, float(whole.image_width), float(whole.image_height)]
    assert [r.region.box.as_list() for r in whole.regions] == [full]
    assert full not in [r.region.box.as_list() for r in auto.regions]
    assert [r.region.box for r in both.regions[:-1]] == [r.region.box for r in auto.regions]
    assert both.regions[-1].region.box.as_list() == full
    assert "detect" not in whole.timings_ms


def test_regions_is_validated_and_part_of_the_cache_key() -> None:
    assert SearchRequest("c", regions="none").cache_parts() != SearchRequest("c").cache_parts()
    image = Image.new("RGB", (100, 100))
    from lookalike.types import DecodedImage

    decoded = DecodedImage(image, "0" * 64)
    with pytest.raises(InvalidParameterError, match="regions must be one of none, auto, all"):
        SearchRequest("c", regions="some").validate(decoded)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="box"):
        SearchRequest("c", box=Box(1, 1, 50, 50), regions="all").validate(decoded)
