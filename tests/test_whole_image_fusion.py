"""Region + whole-image score fusion (``search.whole_image_fusion``) and alpha query expansion
(``search.query_expansion``): off by default and then nothing changes; on, each region's candidates
score (region + w x whole image) / (1 + w) on a real index, batched searches agree with single ones."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog_ingest import ingest_manifest
from evaluation.synth.grid import compose_grid
from lookalike.settings import DetectorSettings, SearchSettings, Settings
from lookalike.types import Box, SearchResult
from service.batch_search import BatchSearcher, ImageLimits, Query
from service.runtime import Runtime
from service.search import SearchRequest, SearchService
from service.whole_image import Combining, expand_queries, fuse_whole_image
from tests.conftest import TEST_DEFAULTS, SharedModelRuntime
from tests.images import clothing_photos
from tests.test_search_cache import write_manifest

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return clothing_photos(12, start=100)


@pytest.fixture(scope="module")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, shop: list[Path]
) -> Runtime:
    """The shipped garment detector, default ``search`` settings, a catalog of 12 garments."""
    folder = tmp_path_factory.mktemp("fusion")
    settings = Settings(
        data_dir=folder, **{**TEST_DEFAULTS, "detector": DetectorSettings(spec="garment-yolo")}
    )
    runtime = SharedModelRuntime(settings, shared_embedder=lambda: request.getfixturevalue("embedder"))
    ingest_manifest(runtime.ingest_parts(), write_manifest(folder / "shop.csv", shop), "shop", progress=False)
    return runtime


@pytest.fixture(scope="module")
def grid(shop: list[Path]) -> bytes:
    """A shop grid of six of the catalog's garments: six regions, each its own item."""
    return compose_grid([Image.open(p).convert("RGB") for p in shop[:6]], random.Random(3)).jpeg


def _service(runtime: Runtime, **search: float | int) -> SearchService:
    """The runtime's own stages and index, with other ``search`` settings."""
    return SearchService(
        runtime.detector,
        runtime.embedder,
        runtime.indexes,
        runtime.store,
        runtime.settings.detector,
        draft_long_side=runtime.search.draft_long_side,
        full_decode_pixels=runtime.search.full_decode_pixels,
        search=SearchSettings(**search),  # type: ignore[arg-type]
    )


def _scores(result: SearchResult) -> list[dict[str, float]]:
    return [{m.item.item_id: m.score for m in r.matches} for r in result.regions]


def test_off_by_default_embeds_no_whole_image_and_changes_nothing(runtime: Runtime, grid: bytes) -> None:
    assert Settings().search.whole_image_fusion == 0.0 and Settings().search.query_expansion == 0
    assert runtime.search.combining.key() is None  # the result cache's key is what it was
    request = SearchRequest("shop", k=12)
    default = runtime.search.search_bytes(grid, request, **LIMITS)
    explicit = _service(runtime, whole_image_fusion=0.0).search_bytes(grid, request, **LIMITS)
    assert len(default.regions) >= 5
    assert _scores(default) == _scores(explicit)
    assert [[m.item.item_id for m in r.matches] for r in default.regions] == [
        [m.item.item_id for m in r.matches] for r in explicit.regions
    ]


def test_fusion_rescores_each_region_with_the_whole_image(runtime: Runtime, grid: bytes) -> None:
    w = 10.0
    off = _scores(runtime.search.search_bytes(grid, SearchRequest("shop", k=12), **LIMITS))
    whole = _scores(runtime.search.search_bytes(grid, SearchRequest("shop", k=12, regions="none"), **LIMITS))[
        0
    ]
    fused = _service(runtime, whole_image_fusion=w).search_bytes(grid, SearchRequest("shop", k=12), **LIMITS)
    assert len(fused.regions) == len(off)
    for region, own in zip(fused.regions, off, strict=True):
        got = [(m.item.item_id, m.score) for m in region.matches]
        assert {item for item, _ in got} == set(own)  # the region's own candidates, no others
        for item, score in got:
            assert score == pytest.approx((own[item] + w * whole[item]) / (1 + w), abs=1e-5)
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    # the whole image dominates at w = 10: the regions of six garments agree on fewer first items
    first_off = {max(own, key=lambda i: own[i]) for own in off}
    first_fused = {r.matches[0].item.item_id for r in fused.regions}
    assert len(first_fused) < len(first_off)


def test_a_whole_image_search_or_a_tapped_box_is_not_fused(runtime: Runtime, grid: bytes) -> None:
    fusing = _service(runtime, whole_image_fusion=1.0)
    width, height = Image.open(io.BytesIO(grid)).size
    whole = SearchRequest("shop", k=12, regions="none")  # fused with itself: its own scores
    _close(
        _scores(runtime.search.search_bytes(grid, whole, **LIMITS)),
        _scores(fusing.search_bytes(grid, whole, **LIMITS)),
    )
    tapped = SearchRequest("shop", k=12, box=Box(0, 0, width / 2, height / 2))
    assert _scores(runtime.search.search_bytes(grid, tapped, **LIMITS)) == _scores(
        fusing.search_bytes(grid, tapped, **LIMITS)
    )


def _close(a: list[dict[str, float]], b: list[dict[str, float]]) -> None:
    assert [sorted(x) for x in a] == [sorted(x) for x in b]
    for x, y in zip(a, b, strict=True):
        for item in x:
            assert x[item] == pytest.approx(y[item], abs=1e-5)


def test_a_batch_with_fusion_gives_each_image_its_single_search(
    runtime: Runtime, grid: bytes, shop: list[Path]
) -> None:
    fusing = _service(runtime, whole_image_fusion=0.5, query_expansion=2)
    request = SearchRequest("shop", k=5)
    images = [grid, shop[7].read_bytes()]
    with BatchSearcher(fusing, ImageLimits(**LIMITS), workers=2) as batch:
        outcomes = batch.search_all([Query(f"q{i}", lambda d=d: d) for i, d in enumerate(images)], request)
    for data, outcome in zip(images, outcomes, strict=True):
        assert isinstance(outcome, SearchResult)
        single = fusing.search_bytes(data, request, **LIMITS)
        assert [[m.item.item_id for m in r.matches] for r in outcome.regions] == [
            [m.item.item_id for m in r.matches] for r in single.regions
        ]
        _close(_scores(outcome), _scores(single))


def test_fuse_whole_image_by_hand() -> None:
    rows = [[("a", 0.9), ("b", 0.8), ("c", 0.5)]]
    whole = [("b", 0.6), ("a", 0.2)]  # c is not among the whole image's neighbours: it scores 0.2
    fused = fuse_whole_image(rows, whole, 1.0)
    assert fused == [[("b", pytest.approx(0.7)), ("a", pytest.approx(0.55)), ("c", pytest.approx(0.35))]]
    assert fuse_whole_image(rows, [], 1.0)[0][0] == ("a", pytest.approx(0.45))
    assert Combining(weight=1.0).key() is not None and Combining().key() is None


def test_query_expansion_moves_the_query_towards_its_neighbours(runtime: Runtime, shop: list[Path]) -> None:
    _, index = runtime.indexes.get("shop")
    query = runtime.embedder.embed_images([Image.open(shop[2]).convert("RGB")])
    same = expand_queries(index, query, 0, 3.0, None)
    np.testing.assert_array_equal(same, query)
    expanded = expand_queries(index, query, 3, 3.0, None)
    assert np.linalg.norm(expanded[0]) == pytest.approx(1.0, abs=1e-5)
    nearest = index.search(query, 3)[0]
    second = index.item_vectors(index.item_of(nearest[1].vector_id))[0]  # the first is the photo itself
    assert float(expanded[0] @ second) > float(query[0] @ second) + 1e-3
    assert float(expanded[0] @ query[0]) < 1.0 - 1e-4


def test_the_bench_scores_query_expansion_as_the_service_does(runtime: Runtime, shop: list[Path]) -> None:
    """``bench.retrieval_wins`` measures variants in numpy: its query expansion is the served one."""
    from bench.retrieval_wins import aqe

    _, index = runtime.indexes.get("shop")
    catalog = np.concatenate([index.item_vectors(p.stem) for p in shop])
    query = runtime.embedder.embed_images([Image.open(p).convert("RGB") for p in shop[3:5]])
    served = expand_queries(index, query, 3, 3.0, None)
    np.testing.assert_allclose(aqe(query, catalog, 3, 3.0), served, atol=1e-5)
