"""Liveness, readiness (what is missing, and healing once a catalog is published) and the OpenAPI document."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.readiness import Warmup
from catalog_ingest import ingest_manifest
from embedder import Embedder
from lookalike.errors import NotReadyError
from lookalike.settings import DetectorSettings, Settings
from service.runtime import Runtime
from tests.images import CLOTHING_IMAGES

if TYPE_CHECKING:
    from tests.api_fixtures import AppFactory, ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def readiness_settled(client: TestClient, timeout_s: float = 30.0) -> tuple[int, dict[str, Any]]:
    """/readyz once no component is still loading."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/readyz")
        body: dict[str, Any] = response.json()
        if "loading" not in body["checks"].values() or time.monotonic() > deadline:
            return response.status_code, body
        time.sleep(0.05)


def test_healthz_is_always_ok(api_client: TestClient) -> None:
    response = api_client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_lists_every_component_when_ready(api_client: TestClient) -> None:
    response = api_client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    runtimes = body.pop("runtimes")
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "detector": "ok", "embedder": "ok", "catalog:shop": "ok"},
        "missing": [],
    }
    # what each ONNX model runs in, and why (the test detector is none: no model to run)
    assert list(runtimes) == ["embedder"] and runtimes["embedder"].startswith("onnxruntime fp32 (")


def test_readyz_waits_for_a_preloaded_catalog_then_turns_ready(
    api_app_with: AppFactory, api_runtime: Runtime, shop_catalog: ShopCatalog, tmp_path: Path
) -> None:
    with TestClient(api_app_with(preload_catalogs=["shop", "later"])) as client:
        status, body = readiness_settled(client)
        assert status == 503 and body["status"] == "not ready"
        assert body["checks"]["catalog:shop"] == "ok"
        [missing] = body["missing"]
        assert missing.startswith("catalog:later:") and "no published index" in missing
        assert client.get("/healthz").status_code == 200

        manifest = tmp_path / "later.csv"
        with manifest.open("w", newline="") as f:
            csv.writer(f).writerows(
                [["item_id", "image"], *[[p.stem, p.name] for p in shop_catalog.photos[:2]]]
            )
        ingest_manifest(
            api_runtime.ingest_parts(), manifest, "later", images_root=CLOTHING_IMAGES, progress=False
        )

        after = client.get("/readyz")
        assert after.status_code == 200, after.text
        assert after.json()["checks"]["catalog:later"] == "ok"


def test_models_that_fail_to_load_make_readyz_and_search_say_why(
    tmp_path: Path, shop_catalog: ShopCatalog
) -> None:
    settings = Settings(data_dir=tmp_path, detector=DetectorSettings(spec="bogus"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        status, body = readiness_settled(client)
        assert status == 503
        assert body["checks"]["database"] == "ok"
        assert "unknown detector spec 'bogus'" in body["checks"]["detector"]
        response = client.post(
            "/v1/search", files={"image": ("x.jpg", shop_catalog.photos[0].read_bytes(), "image/jpeg")}
        )
        assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
        assert "could not load its models" in response.json()["detail"]


def test_a_failed_model_load_is_retried_and_the_service_recovers(tmp_path: Path, embedder: Embedder) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path, detector=DetectorSettings(spec="bogus")))
    runtime.__dict__["embedder"] = embedder
    warmup = Warmup(runtime, [])
    warmup.start()
    with pytest.raises(NotReadyError, match="unknown detector spec 'bogus'"):
        warmup.wait_for_models(timeout=30)
    assert warmup.report().checks["embedder"] == "ok"  # loads although the detector failed
    runtime.settings.detector.spec = "none"  # the cause goes away (think: a database that came up late)
    warmup.retry_s = 0.0
    warmup.report()  # a readiness probe triggers the retry
    warmup.wait_for_models(timeout=30)
    assert warmup.report().ready and warmup.report().checks == {
        "database": "ok",
        "detector": "ok",
        "embedder": "ok",
    }


def test_readyz_says_which_published_catalog_lost_its_index_files_without_loading_it(
    tmp_path: Path, embedder: Embedder, shop_catalog: ShopCatalog
) -> None:
    """A catalog nobody preloads, whose live version's files go missing or get cut short on disk,
    makes /readyz 503 with a reason naming the file (no server path); a search of it says 503."""
    from tests.api_fixtures import API_EMBEDDER

    settings = Settings(
        data_dir=tmp_path / "data", embedder=API_EMBEDDER, detector=DetectorSettings(spec="none")
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    manifest = tmp_path / "side.csv"
    with manifest.open("w", newline="") as f:
        csv.writer(f).writerows([["item_id", "image"], *[[p.stem, p.name] for p in shop_catalog.photos[:2]]])
    report = ingest_manifest(
        runtime.ingest_parts(), manifest, "side", images_root=CLOTHING_IMAGES, progress=False
    )
    version = report.index_version
    vdir = settings.index_dir / "side" / str(version)
    index_file, payload_file = vdir / "index.faiss", vdir / "payload.npz"
    index_bytes, payload_bytes = index_file.read_bytes(), payload_file.read_bytes()
    photo = {"image": ("x.jpg", shop_catalog.photos[0].read_bytes(), "image/jpeg")}

    with TestClient(create_app(settings, runtime=runtime)) as client:
        status, body = readiness_settled(client)
        assert status == 200 and "catalog:side" not in body["checks"], body

        index_file.unlink()
        response = client.get("/readyz")
        assert response.status_code == 503
        reason = response.json()["checks"]["catalog:side"]
        assert reason == f"index version {version}: missing index.faiss; run `lookalike repair`"
        assert str(tmp_path) not in response.text
        search = client.post("/v1/search?catalog=side", files=photo)
        assert search.status_code == 503, search.text
        assert str(tmp_path) not in search.text

        index_file.write_bytes(index_bytes)
        payload_file.write_bytes(payload_bytes[: len(payload_bytes) // 2])  # a copy cut short
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "wrong size: payload.npz" in response.json()["checks"]["catalog:side"]

        payload_file.write_bytes(payload_bytes)
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/search?catalog=side", files=photo).status_code == 200


@pytest.fixture(scope="module")
def openapi(api_client: TestClient) -> dict[str, Any]:
    response = api_client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_openapi_documents_all_three_search_forms_with_examples(openapi: dict[str, Any]) -> None:
    search = openapi["paths"]["/v1/search"]["post"]
    content = search["requestBody"]["content"]
    assert "required" not in content["multipart/form-data"]["schema"]  # q= alone searches by words
    assert {"image", "q", "ocr"} <= set(content["multipart/form-data"]["schema"]["properties"])
    assert set(content["multipart/form-data"]["examples"]) == {"upload", "tap_to_search"}
    assert set(content["application/json"]["examples"]) == {"base64", "url"}
    assert {"image_base64", "image_url", "k", "box", "categories"} <= set(
        content["application/json"]["schema"]["properties"]
    )
    assert {p["name"] for p in search["parameters"]} == {
        *("catalog", "k", "box", "regions", "categories", "min_score"),
        *("brand", "price_min", "price_max", "in_stock", "attributes", "q", "ocr", "explain"),
    }
    assert {"400", "404", "413", "415", "422"} <= set(search["responses"])
    body = content["application/json"]
    assert len(body["schema"]["oneOf"]) == 3  # exactly one of image_base64 / image_url, or q alone
    one_image = jsonschema.Draft202012Validator(body["schema"])
    assert all(one_image.is_valid(example["value"]) for example in body["examples"].values())
    assert not one_image.is_valid({"image_base64": "aGk=", "image_url": "https://example.com/a.jpg"})
    assert not one_image.is_valid({"k": 5})
    assert search["responses"]["413"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/Problem"
    )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_render_offline_from_assets_this_server_serves(api_client: TestClient, page: str) -> None:
    """Every script, style and icon the page loads comes from this server: no CDN, no other host."""
    response = api_client.get(page)
    assert response.status_code == 200 and "/openapi.json" in response.text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text)
    assert len(urls) >= 2, urls
    assert not re.search(r"https?://", response.text), "the page names another host"
    for url in urls:
        asset = api_client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 1000, url


def test_openapi_response_models_carry_examples(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for name in ("SearchResponse", "CatalogList", "ItemOut", "ReadyOut", "Problem"):
        assert schemas[name]["examples"], name
    example = schemas["SearchResponse"]["examples"][0]
    assert {"catalog", "index_version", "image_width", "image_height", "regions", "timings_ms"} <= set(
        example
    )
    assert "/v1/catalogs/{catalog}/items/{item_id}/image" in openapi["paths"]
