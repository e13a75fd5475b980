"""Residency over HTTP: /metrics reports resident indexes and searches per tenant and stage; a
catalog whose index is still loading answers 503 with Retry-After, then serves once loaded."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from fastapi.testclient import TestClient

from api.app import create_app
from embedder import Embedder
from index import IndexStore, LiveIndex
from lookalike.settings import ResidencySettings
from service.runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.api_fixtures import AppFactory, ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def upload(client: TestClient, data: bytes, **fields: Any) -> Any:
    return client.post(
        "/v1/search",
        files={"image": ("shot.jpg", data, "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
    )


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text page (labels in any order)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if found == labels:
            return float(match.group(2))
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_metrics_show_resident_indexes_and_searches_per_tenant_and_stage(
    api_app_with: AppFactory, shop_catalog: ShopCatalog
) -> None:
    app = api_app_with()

    @app.middleware("http")
    async def tenant_from_auth(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.tenant_id = request.headers.get("x-test-tenant")  # what tenancy's auth sets
        return await call_next(request)

    photo = shop_catalog.photos[0].read_bytes()
    with TestClient(app) as client:
        assert upload(client, photo, k=3, catalog="shop", regions="none").status_code == 200
        assert upload(client, photo, k=4, catalog="shop", regions="none").status_code == 200
        client.headers["x-test-tenant"] = "acme"
        assert upload(client, photo, k=2, catalog="shop", regions="none").status_code == 200
        assert upload(client, photo, k=2, catalog="nowhere").status_code == 404
        text = client.get("/metrics").text
    assert sample(text, "lookalike_search_requests_total", outcome="ok", tenant="acme") == 1
    assert sample(text, "lookalike_search_requests_total", outcome="404", tenant="acme") >= 1
    assert sample(text, "lookalike_search_requests_total", outcome="ok", tenant="unknown") >= 2
    assert sample(text, "lookalike_search_stage_seconds_count", stage="embed", tenant="acme") >= 1
    assert sample(text, "lookalike_search_stage_seconds_count", stage="total", tenant="acme") >= 1
    assert sample(text, "lookalike_index_resident_catalogs") >= 1
    assert sample(text, "lookalike_index_resident_bytes") > 0
    assert sample(text, "lookalike_index_hits_total") >= 3
    assert sample(text, "lookalike_index_budget_bytes") == 4 * 1024**3
    assert (
        "lookalike_index_load_duration_seconds_bucket" in text and "lookalike_index_evictions_total" in text
    )


def test_a_catalog_still_loading_answers_503_with_retry_after_then_serves(
    api_runtime: Runtime, embedder: Embedder, shop_catalog: ShopCatalog
) -> None:
    settings = api_runtime.settings.model_copy(
        update={
            "residency": ResidencySettings(load_timeout_s=0.2),
            "api": api_runtime.settings.api.model_copy(update={"preload_catalogs": []}),
        }
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    store = runtime.index_store
    load_live = store.load_live

    def slow_load(catalog: str, **kwargs: Any) -> LiveIndex:  # a big catalog on a slow disk
        time.sleep(1.5)
        return load_live(catalog, **kwargs)

    store.load_live = slow_load  # type: ignore[method-assign]
    photo = shop_catalog.photos[1].read_bytes()
    with TestClient(create_app(settings, runtime=runtime)) as client:
        first = upload(client, photo, k=3, catalog="shop", regions="none")
        assert first.status_code == 503, first.text
        assert first.headers["retry-after"].isdigit() and int(first.headers["retry-after"]) >= 1
        body = first.json()
        assert body["type"] == "urn:lookalike:problem:catalog-loading" and "still loading" in body["detail"]
        deadline = time.monotonic() + 30
        while (again := upload(client, photo, k=3, catalog="shop", regions="none")).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert again.status_code == 200 and again.json()["regions"][0]["matches"][0][
            "item_id"
        ] == shop_catalog.item_id(1)
        assert isinstance(runtime.index_store, IndexStore) and list(runtime.indexes.loaded()) == ["shop"]


def test_sixteen_clients_on_one_cold_catalog_load_it_once_over_http(
    api_runtime: Runtime, embedder: Embedder, shop_catalog: ShopCatalog
) -> None:
    settings = api_runtime.settings.model_copy(
        update={
            "residency": ResidencySettings(load_timeout_s=30),
            "cache": api_runtime.settings.cache.model_copy(update={"max_bytes": 0}),
            "api": api_runtime.settings.api.model_copy(update={"preload_catalogs": []}),
        }
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    store = runtime.index_store
    load_live = store.load_live

    def slow_load(catalog: str, **kwargs: Any) -> LiveIndex:  # every client arrives during the load
        time.sleep(0.5)
        return load_live(catalog, **kwargs)

    store.load_live = slow_load  # type: ignore[method-assign]
    photo = shop_catalog.photos[2].read_bytes()
    with TestClient(create_app(settings, runtime=runtime)) as client:
        barrier = threading.Barrier(16)

        def search(_: int) -> int:
            barrier.wait()
            return int(upload(client, photo, k=3, catalog="shop", regions="none").status_code)

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(search, range(16)))
        text = client.get("/metrics").text
    assert statuses == [200] * 16
    assert sample(text, "lookalike_index_load_duration_seconds_count") == 1
    assert sample(text, "lookalike_index_misses_total") + sample(text, "lookalike_index_hits_total") == 16
