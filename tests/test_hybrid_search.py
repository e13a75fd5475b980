"""Hybrid ranking with real models: OCR reads the card, the catalog's text search re-ranks look-alikes.

The catalog holds three look-alike items made from one photo (equally jittered copies), which
differ only by brand or by name: the pixels cannot tell them apart, the printed words can.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from catalog_ingest import ingest_manifest
from evaluation.synth.product_page import compose_product_page, jitter_photo
from lookalike.settings import UnderstandingSettings
from service.result_cache import LruResultCache
from service.runtime import Runtime
from service.search import SearchRequest, SearchService
from tests.images import clothing_photos

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}
LOOK_ALIKES = [
    ("zara-linen", "Zara", "Linen blend shirt"),
    ("mango-linen", "Mango", "Linen blend shirt"),
    ("zara-poplin", "Zara", "Poplin oxford shirt"),
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(manifest, query screenshot): three look-alikes of one photo, six other items."""
    folder = tmp_path_factory.mktemp("hybrid")
    photos = clothing_photos(7)
    with Image.open(photos[0]) as img:
        source = img.convert("RGB")
    rows = []
    for n, (item_id, brand, title) in enumerate(LOOK_ALIKES):
        path = folder / f"{item_id}.jpg"
        jitter_photo(source, random.Random(n), crop=0.95).save(path, quality=90)
        rows.append([item_id, str(path), title, brand, "Shirt"])
    for n, photo in enumerate(photos[1:]):
        rows.append([photo.stem, str(photo), f"Basic item {n}", f"Label{n}", "Other"])
    manifest = folder / "catalog.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([["item_id", "image", "title", "brand", "category"], *rows])
    shot = compose_product_page(source, "Zara", "Linen blend shirt", "$39.90", random.Random(7))
    query = folder / "query.jpg"
    query.write_bytes(shot.jpeg)
    return manifest, query


@pytest.fixture(scope="module")
def runtime(
    shop: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Runtime:
    from lookalike.settings import Settings
    from tests.conftest import TEST_DEFAULTS, SharedModelRuntime

    settings = Settings(data_dir=tmp_path_factory.mktemp("hybrid-data"), **TEST_DEFAULTS)
    rt = SharedModelRuntime(settings, shared_embedder=lambda: request.getfixturevalue("embedder"))
    rt.serving = True
    report = ingest_manifest(rt.ingest_parts(), shop[0], "shop", progress=False)
    assert report.loaded_items == 9, report.summary()
    return rt


def ranking(result: Any) -> list[str]:
    return [m.item.item_id for m in result.regions[0].matches]


def test_the_words_read_pick_the_right_look_alike(runtime: Runtime, shop: tuple[Path, Path]) -> None:
    query = shop[1].read_bytes()
    pixels = runtime.search.search_bytes(query, SearchRequest("shop", k=5, ocr="off"), **LIMITS)
    assert set(ranking(pixels)[:3]) == {item for item, _, _ in LOOK_ALIKES}  # pixels: any order
    assert all(m.signals == ("visual",) for m in pixels.regions[0].matches) and pixels.text == []

    hybrid = runtime.search.search_bytes(query, SearchRequest("shop", k=5, ocr="always"), **LIMITS)
    assert ranking(hybrid)[0] == "zara-linen"
    assert hybrid.regions[0].matches[0].signals == ("visual", "text")
    assert {"ZARA", "Linen blend shirt", "$39.90"} <= set(hybrid.text)
    assert hybrid.query_text is not None and "zara linen blend shirt" in hybrid.query_text
    assert not {"ootd", "39", "bag"} & set(hybrid.query_text.split())
    assert "ocr" in hybrid.timings_ms and "text" in hybrid.timings_ms


def test_typed_words_re_rank_without_ocr(runtime: Runtime, shop: tuple[Path, Path]) -> None:
    query = shop[1].read_bytes()
    result = runtime.search.search_bytes(
        query, SearchRequest("shop", k=5, ocr="off", q="poplin oxford"), **LIMITS
    )
    assert ranking(result)[0] == "zara-poplin" and result.text == []


def test_understanding_options_are_part_of_the_result_cache_key(
    runtime: Runtime, shop: tuple[Path, Path]
) -> None:
    """A cached hybrid answer must not be handed to a service that ranks by pixels alone (or back)."""
    cache = LruResultCache(10_000_000)
    query = shop[1].read_bytes()

    def service(**understanding: Any) -> SearchService:
        return SearchService(
            runtime.detector,
            runtime.embedder,
            runtime.indexes,
            runtime.store,
            runtime.settings.detector,
            cache=cache,
            reader=runtime.screen_reader,
            texts=runtime.store,
            understanding=UnderstandingSettings(ocr="always", **understanding),
        )

    hybrid = service().search_bytes(query, SearchRequest("shop", k=5), **LIMITS)
    assert ranking(hybrid)[0] == "zara-linen" and "cache_hit" not in hybrid.timings_ms
    assert "cache_hit" in service().search_bytes(query, SearchRequest("shop", k=5), **LIMITS).timings_ms
    pixels = service(text_fusion=False).search_bytes(query, SearchRequest("shop", k=5), **LIMITS)
    assert "cache_hit" not in pixels.timings_ms
    assert all(m.signals == ("visual",) for m in pixels.regions[0].matches)
    off = service().search_bytes(query, SearchRequest("shop", k=5, ocr="off"), **LIMITS)
    assert "cache_hit" not in off.timings_ms and off.text == []


def test_text_search_over_http_alone_and_with_an_image(runtime: Runtime, shop: tuple[Path, Path]) -> None:
    app = create_app(runtime.settings, runtime=runtime)
    with TestClient(app) as client:
        alone = client.post("/v1/search", json={"catalog": "shop", "q": "zara", "k": 5})
        assert alone.status_code == 200, alone.text
        body = alone.json()
        found = [m["item_id"] for m in body["regions"][0]["matches"]]
        assert sorted(found) == ["zara-linen", "zara-poplin"]
        assert all(m["signals"] == ["text"] for m in body["regions"][0]["matches"])
        assert body["query_text"] == "zara"

        filtered = client.post("/v1/search", json={"catalog": "shop", "q": "zara shirt", "brand": ["Mango"]})
        assert filtered.status_code == 200, filtered.text
        assert [m["item_id"] for m in filtered.json()["regions"][0]["matches"]] == ["mango-linen"]

        shot = client.post(
            "/v1/search",
            files={"image": ("shot.jpg", shop[1].read_bytes(), "image/jpeg")},
            data={"catalog": "shop", "k": "3", "ocr": "always"},
        )
        assert shot.status_code == 200, shot.text
        region = shot.json()["regions"][0]
        assert region["matches"][0]["item_id"] == "zara-linen"
        assert region["matches"][0]["signals"] == ["visual", "text"]
        assert "Linen blend shirt" in region["text"]

        for bad, needle in [
            ({"catalog": "shop", "q": "#ootd 🔥 $39"}, "no word to search"),
            ({"catalog": "shop", "q": "x" * 501}, "q"),
            ({"catalog": "shop", "q": "zara", "ocr": "sometimes"}, "ocr"),
            ({"catalog": "nope", "q": "zara"}, "nope"),
        ]:
            response = client.post("/v1/search", json=bad)
            assert 400 <= response.status_code < 500, response.text
            assert needle in response.text
