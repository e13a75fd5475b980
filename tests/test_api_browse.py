"""Browsing a catalog over HTTP: items a page at a time, an item's reference images, facets."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from catalog_ingest import ingest_manifest
from service.runtime import Runtime

if TYPE_CHECKING:
    from tests.api_fixtures import ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def test_items_come_a_page_at_a_time_in_load_order(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    seen: list[str] = []
    for offset in (0, 12, 24):
        response = api_client.get("/v1/catalogs/shop/items", params={"offset": offset, "limit": 12})
        assert response.status_code == 200, response.text
        page = response.json()
        assert (page["catalog"], page["total"], page["offset"], page["limit"]) == ("shop", 30, offset, 12)
        seen += [item["item_id"] for item in page["items"]]
    assert seen == [p.stem for p in shop_catalog.photos]  # every item once, as the manifest listed them
    first = api_client.get("/v1/catalogs/shop/items", params={"limit": 1}).json()["items"][0]
    assert first == api_client.get(f"/v1/catalogs/shop/items/{first['item_id']}").json()


def test_items_of_one_category(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    category = shop_catalog.labels[shop_catalog.item_id(0)]
    expected = [p.stem for p in shop_catalog.photos if shop_catalog.labels[p.stem] == category]
    page = api_client.get("/v1/catalogs/shop/items", params={"category": category, "limit": 100}).json()
    assert page["total"] == len(expected)
    assert [item["item_id"] for item in page["items"]] == expected


def test_paging_past_the_end_is_empty_and_bad_paging_is_a_422(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    page = api_client.get("/v1/catalogs/shop/items", params={"offset": 100}).json()
    assert page["total"] == 30 and page["items"] == []
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        response = api_client.get("/v1/catalogs/shop/items", params=params)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert api_client.get("/v1/catalogs/nope/items").status_code == 404


def test_facets_count_categories_and_brands_and_span_the_prices(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    response = api_client.get("/v1/catalogs/shop/facets")
    assert response.status_code == 200, response.text
    facets = response.json()
    by_category = {c["value"]: c["count"] for c in facets["categories"]}
    assert by_category == {
        label: list(shop_catalog.labels.values()).count(label) for label in set(shop_catalog.labels.values())
    }
    counts = [c["count"] for c in facets["categories"]]
    assert counts == sorted(counts, reverse=True)
    assert sum(b["count"] for b in facets["brands"]) == 30
    assert all(b["value"].startswith("Seller ") for b in facets["brands"])
    assert 9.99 <= facets["price_min"] < facets["price_max"] <= 149.99
    assert api_client.get("/v1/catalogs/nope/facets").status_code == 404


@pytest.fixture(scope="module")
def two_photo_item(
    api_runtime: Runtime, shop_catalog: ShopCatalog, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A catalog whose item ``pair`` has two reference images (two manifest rows, one item id)."""
    manifest = tmp_path_factory.mktemp("pair") / "pair.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "image", "title"])
        writer.writerow(["pair", str(shop_catalog.photos[1]), "Two photos"])
        writer.writerow(["pair", str(shop_catalog.photos[2]), "Two photos"])
        writer.writerow(["single", str(shop_catalog.photos[3]), "One photo"])
    report = ingest_manifest(api_runtime.ingest_parts(), manifest, "pairs", progress=False)
    assert report.loaded_items == 2, report.summary()
    return "pair"


def test_an_item_lists_its_reference_images_and_serves_each(
    api_client: TestClient, shop_catalog: ShopCatalog, two_photo_item: str
) -> None:
    response = api_client.get(f"/v1/catalogs/pairs/items/{two_photo_item}/images")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["catalog"], body["item_id"]) == ("pairs", "pair")
    assert [i["position"] for i in body["images"]] == [0, 1]
    for image, photo in zip(body["images"], shop_catalog.photos[1:3], strict=True):
        assert image["url"] == f"http://testserver/v1/catalogs/pairs/items/pair/images/{image['position']}"
        served = api_client.get(image["url"])
        assert served.status_code == 200 and served.content == photo.read_bytes()
        assert served.headers["content-type"] == "image/jpeg"
        assert (image["width"], image["height"]) > (0, 0)
    primary = api_client.get("/v1/catalogs/pairs/items/pair/image")
    assert primary.content == shop_catalog.photos[1].read_bytes()


def test_missing_reference_images_are_404_problems(api_client: TestClient, two_photo_item: str) -> None:
    for path, needle in [
        ("/v1/catalogs/pairs/items/pair/images/2", "has no image 2"),
        ("/v1/catalogs/pairs/items/nobody/images", "has no item 'nobody'"),
        ("/v1/catalogs/nope/items/pair/images/0", "catalog 'nope' does not exist"),
    ]:
        response = api_client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert needle in response.json()["detail"]
    assert api_client.get("/v1/catalogs/pairs/items/pair/images/x").status_code == 422


def test_browsing_endpoints_are_in_the_openapi_document(api_client: TestClient) -> None:
    paths = api_client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/catalogs/{catalog}/items",
        "/v1/catalogs/{catalog}/facets",
        "/v1/catalogs/{catalog}/items/{item_id}/images",
        "/v1/catalogs/{catalog}/items/{item_id}/images/{position}",
    ):
        assert path in paths and paths[path]["get"]["summary"], path
        assert "404" in paths[path]["get"]["responses"]
