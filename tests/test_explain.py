"""Why this match: occlusion heatmaps of the query crop with the real MobileNetV2, over HTTP too."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient
from PIL import Image

from embedder import Embedder
from service.runtime import Runtime
from understanding import Explainer, ExplainOptions

if TYPE_CHECKING:
    from tests.api_fixtures import ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def png_size(b64: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        assert img.format == "PNG"
        return img.size


def test_a_heatmap_has_one_value_per_cell_and_a_png_over_the_crop(
    embedder: Embedder, shop_catalog: ShopCatalog
) -> None:
    with Image.open(shop_catalog.photos[0]) as img:
        photo = img.convert("RGB")
    target = embedder.embed_images([photo])
    explainer = Explainer(ExplainOptions(grid=5, window=2, heatmap_side=128), cache_entries=4)
    out = explainer.explain(photo, target, embedder.embed_images, key="k")
    assert len(out.grid) == 5 and all(len(row) == 5 for row in out.grid)
    assert out.score > 0.99  # the crop against its own vector
    assert max(max(row) for row in out.grid) > 0.0  # hiding some part costs similarity
    assert (out.width, out.height) == png_size(out.png_base64)
    assert max(out.width, out.height) == 128
    assert abs(out.width / out.height - photo.width / photo.height) < 0.05
    assert explainer.cached("k") is out

    w, h = photo.size
    half = explainer.explain(photo.crop((0, 0, w // 2, h)), target, embedder.embed_images)
    assert half.grid != out.grid  # another crop, another map


def upload(client: TestClient, data: bytes, **fields: Any) -> Any:
    return client.post(
        "/v1/search",
        files={"image": ("q.jpg", data, "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
    )


def test_explain_true_returns_a_heatmap_that_follows_the_crop(
    api_client: TestClient, api_runtime: Runtime, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[3].read_bytes()
    with Image.open(shop_catalog.photos[3]) as img:
        w, h = img.size
    grid = api_runtime.settings.explain.grid
    whole = upload(api_client, photo, k=2, explain="true")
    assert whole.status_code == 200, whole.text
    best, second = whole.json()["regions"][0]["matches"]
    assert best["item_id"] == shop_catalog.item_id(3)
    explanation = best["explanation"]
    assert len(explanation["grid"]) == grid and {len(r) for r in explanation["grid"]} == {grid}
    assert (explanation["width"], explanation["height"]) == png_size(explanation["png_base64"])
    assert explanation["score"] > 0.95
    assert second["explanation"] is None  # explain.max_matches = 1
    assert "explain" in whole.json()["timings_ms"]

    boxed = upload(api_client, photo, k=1, explain="true", box=f"0,0,{w // 2},{h}")
    assert boxed.status_code == 200, boxed.text
    assert boxed.json()["regions"][0]["matches"][0]["explanation"]["grid"] != explanation["grid"]

    plain = upload(api_client, photo, k=2)
    assert all(m["explanation"] is None for m in plain.json()["regions"][0]["matches"])
    assert "explain" not in plain.json()["timings_ms"]


def test_explanations_are_kept_by_image_box_and_item(
    api_client: TestClient, api_runtime: Runtime, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[4].read_bytes()
    first = upload(api_client, photo, k=1, explain="true", regions="none")
    kept = len(api_runtime.explainer._cache)
    again = upload(
        api_client, photo, k=1, explain="true", regions="none", min_score=0.1
    )  # no result-cache hit
    assert again.json()["timings_ms"].get("cache_hit") is None
    assert len(api_runtime.explainer._cache) == kept  # the heatmap came from the explanation cache
    first_map = first.json()["regions"][0]["matches"][0]["explanation"]
    assert again.json()["regions"][0]["matches"][0]["explanation"] == first_map


def test_explanations_and_safety_verdicts_survive_the_shared_result_cache() -> None:
    from lookalike.items import CatalogItem
    from lookalike.types import Box, Explanation, Match, Region, RegionResult, SafetyFinding, SearchResult
    from service.result_cache import result_from_json, result_to_json

    explanation = Explanation([[0.1, 0.0], [0.0, -0.01]], 0.9, "iVBORw0KGgo=", 10, 20)
    result = SearchResult(
        "shop",
        "v1",
        10,
        20,
        [RegionResult(Region(Box(0, 0, 10, 20)), [Match(CatalogItem("a"), 0.9, ("visual",), explanation)])],
        safety="flag",
        safety_findings=[SafetyFinding("FACE_FEMALE", 0.8, "flag")],
    )
    assert result_from_json(result_to_json(result)) == result


def test_a_crop_smaller_than_the_grid_is_explained_too() -> None:
    from understanding.explain import occluded_copies

    copies = occluded_copies(Image.new("RGB", (2, 3), (200, 10, 10)), grid=7, window=2)
    assert len(copies) == 49 and {c.size for c in copies} == {(2, 3)}
