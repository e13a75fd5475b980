"""A batch of query images searched together gives each image the result a single search gives:
the same regions, the same matches in the same order, the same scores (to float rounding)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from catalog_ingest import ingest_manifest
from evaluation.synth.grid import compose_grid
from lookalike.errors import BadImageError, ClientError, ImageFetchError, InvalidParameterError
from lookalike.settings import DetectorSettings, Settings
from lookalike.types import Box, SearchResult
from service.batch_search import BatchSearcher, ImageLimits, Query
from service.runtime import Runtime
from service.search import SearchRequest
from tests.conftest import TEST_DEFAULTS, SharedModelRuntime
from tests.images import clothing_photos
from tests.test_search_cache import write_manifest

LIMITS = ImageLimits(max_bytes=20_000_000, max_pixels=40_000_000)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return clothing_photos(24, start=60)


@pytest.fixture(scope="module")
def garment_runtime(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, shop: list[Path]
) -> Runtime:
    """The shipped garment detector; the session's embedder; one catalog for the module."""
    folder = tmp_path_factory.mktemp("batch-search")
    settings = Settings(
        data_dir=folder, **{**TEST_DEFAULTS, "detector": DetectorSettings(spec="garment-yolo")}
    )
    runtime = SharedModelRuntime(settings, shared_embedder=lambda: request.getfixturevalue("embedder"))
    manifest = write_manifest(folder / "shop.csv", shop)
    ingest_manifest(runtime.ingest_parts(), manifest, "shop", progress=False)
    return runtime


def _queries(shop: list[Path]) -> list[bytes]:
    """Shop grids (several products each) and single photos: a mix of shapes and region counts."""
    rng = random.Random(19)
    photos = [Image.open(p).convert("RGB") for p in shop]
    grids = [compose_grid(rng.sample(photos, rng.randint(6, 9)), rng).jpeg for _ in range(3)]
    return grids + [p.read_bytes() for p in shop[:5]] + [b"not an image"]


def _same(batched: SearchResult, single: SearchResult) -> None:
    assert batched.index_version == single.index_version
    assert (batched.image_width, batched.image_height) == (single.image_width, single.image_height)
    assert len(batched.regions) == len(single.regions)
    for b, s in zip(batched.regions, single.regions, strict=True):
        assert b.region.category == s.region.category
        assert b.region.box.as_list() == pytest.approx(s.region.box.as_list(), abs=1e-3)
        assert [m.item.item_id for m in b.matches] == [m.item.item_id for m in s.matches]
        assert [m.score for m in b.matches] == pytest.approx([m.score for m in s.matches], abs=1e-5)


@pytest.mark.parametrize("regions", ["auto", "none"])
def test_a_batch_gives_every_image_its_single_search_result(
    garment_runtime: Runtime, shop: list[Path], regions: str
) -> None:
    search = garment_runtime.search
    request = SearchRequest("shop", k=5, regions=regions)  # type: ignore[arg-type]
    images = _queries(shop)
    with BatchSearcher(search, LIMITS, workers=2) as searcher:
        batched = searcher.search_all(
            [Query(f"q{n}", lambda d=data: d) for n, data in enumerate(images)], request
        )
    assert len(batched) == len(images)
    for n, (data, outcome) in enumerate(zip(images, batched, strict=True)):
        try:
            single = search.search_bytes(
                data, request, max_bytes=LIMITS.max_bytes, max_pixels=LIMITS.max_pixels, source=f"q{n}"
            )
        except ClientError as exc:
            assert isinstance(outcome, BadImageError) and outcome.detail == exc.detail
            continue
        assert isinstance(outcome, SearchResult)
        _same(outcome, single)
    if regions == "auto":  # the grids hold several products: the test covers multi-region batches
        first = batched[0]
        assert isinstance(first, SearchResult) and len(first.regions) >= 4


def test_a_failed_read_or_a_bad_box_is_that_query_s_error_only(
    garment_runtime: Runtime, shop: list[Path]
) -> None:
    def unreadable() -> bytes:
        raise ImageFetchError("could not fetch http://x/a.jpg: HTTP 404")

    photo = shop[0].read_bytes()
    queries = [Query("ok", lambda: photo), Query("gone", unreadable), Query("ok2", lambda: photo)]
    with BatchSearcher(garment_runtime.search, LIMITS, workers=2) as searcher:
        found = searcher.search_all(queries, SearchRequest("shop", k=3))
        boxed = searcher.search_all(queries[:1], SearchRequest("shop", k=3, box=Box(0, 0, 5000, 5000)))
    assert isinstance(found[1], ImageFetchError) and "HTTP 404" in found[1].detail
    for outcome in (found[0], found[2]):
        assert (
            isinstance(outcome, SearchResult) and outcome.regions[0].matches[0].item.item_id == shop[0].stem
        )
    assert isinstance(boxed[0], InvalidParameterError) and "outside" in boxed[0].detail
