"""GET /v1/catalogs, items and item images, on catalogs loaded with the real ingest pipeline."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from catalog_ingest import ingest_manifest
from service.runtime import Runtime

if TYPE_CHECKING:
    from tests.api_fixtures import ImageServer, ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def test_catalog_list_has_counts_and_the_live_index_version(
    api_client: TestClient, shop_catalog: ShopCatalog, api_runtime: Runtime
) -> None:
    response = api_client.get("/v1/catalogs")
    assert response.status_code == 200
    shop = next(c for c in response.json()["catalogs"] if c["name"] == "shop")
    assert (shop["item_count"], shop["image_count"], shop["region_count"]) == (30, 30, 30)
    assert (
        shop["index_version"] == api_runtime.index_store.current_version("shop") == shop_catalog.index_version
    )
    assert shop["created_at"].startswith("20")


def test_item_has_its_metadata_and_an_image_link(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    item_id = shop_catalog.item_id(6)
    response = api_client.get(f"/v1/catalogs/shop/items/{item_id}")
    assert response.status_code == 200, response.text
    item = response.json()
    assert item["item_id"] == item_id and item["catalog"] == "shop"
    assert item["category"] == shop_catalog.labels[item_id]
    assert item["title"].endswith(item_id[:6]) and item["currency"] == "EUR"
    assert item["attributes"] == {"kids": "False"}
    assert item["image_url"] == f"http://testserver/v1/catalogs/shop/items/{item_id}/image"


def test_item_image_serves_the_catalog_file(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    photo = shop_catalog.photos[6]
    response = api_client.get(f"/v1/catalogs/shop/items/{photo.stem}/image")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == photo.read_bytes()


def test_unknown_catalog_and_item_are_404_problems(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    for path, needle in [
        ("/v1/catalogs/shop/items/no-such-item", "has no item 'no-such-item'"),
        ("/v1/catalogs/shop/items/no-such-item/image", "has no item 'no-such-item'"),
        ("/v1/catalogs/nope/items/x", "catalog 'nope' does not exist"),
    ]:
        response = api_client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert needle in response.json()["detail"]
    bad_name = api_client.get("/v1/catalogs/-bad!/items/x")
    assert bad_name.status_code == 422 and "catalog" in bad_name.json()["detail"]


@pytest.fixture(scope="module")
def elsewhere_catalog(
    api_runtime: Runtime,
    shop_catalog: ShopCatalog,
    image_server: ImageServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """A catalog with one item fetched from a URL, one whose file is deleted after ingest, and one
    whose id needs quoting in a URL."""
    tmp_path = tmp_path_factory.mktemp("elsewhere")
    remote_photo, doomed_photo = shop_catalog.photos[20], shop_catalog.photos[21]
    odd = tmp_path / "odd.jpg"
    shutil.copy(shop_catalog.photos[22], odd)
    url = image_server.add("/catalog/remote.jpg", remote_photo.read_bytes())
    doomed = tmp_path / "doomed.jpg"
    shutil.copy(doomed_photo, doomed)
    manifest = tmp_path / "elsewhere.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "image", "title"])
        writer.writerow(["remote-1", url, "Fetched at ingest"])
        writer.writerow(["gone-1", str(doomed), "File removed later"])
        writer.writerow([ODD_ID, str(odd), "Id with a space, a slash and a question mark"])
    report = ingest_manifest(api_runtime.ingest_parts(), manifest, "elsewhere", progress=False)
    assert report.loaded_items == 3, report.summary()
    doomed.unlink()
    return {"url": url, "odd": str(odd)}


ODD_ID = "odd id/1?"


def test_an_item_links_to_its_image_alike_in_search_results_and_item_pages(
    api_client: TestClient, elsewhere_catalog: dict[str, str]
) -> None:
    """One function builds the link; it quotes the id, and the link serves the file."""
    item = api_client.get(f"/v1/catalogs/elsewhere/items/{quote(ODD_ID, safe='/')}").json()
    assert item["item_id"] == ODD_ID
    assert item["image_url"] == "http://testserver/v1/catalogs/elsewhere/items/odd%20id/1%3F/image"
    photo = Path(elsewhere_catalog["odd"]).read_bytes()
    found = api_client.post(
        "/v1/search", files={"image": ("q.jpg", photo, "image/jpeg")}, data={"catalog": "elsewhere", "k": "1"}
    ).json()
    match = found["regions"][0]["matches"][0]
    assert match["item_id"] == ODD_ID and match["image_url"] == item["image_url"]
    image = api_client.get(item["image_url"])
    assert image.status_code == 200 and image.content == photo


def test_item_with_a_remote_image_redirects_to_it(
    api_client: TestClient, elsewhere_catalog: dict[str, str]
) -> None:
    item = api_client.get("/v1/catalogs/elsewhere/items/remote-1").json()
    assert item["image_url"] == elsewhere_catalog["url"]
    response = api_client.get("/v1/catalogs/elsewhere/items/remote-1/image", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == elsewhere_catalog["url"]


def test_item_whose_file_is_gone_is_a_404_problem(
    api_client: TestClient, elsewhere_catalog: dict[str, str]
) -> None:
    response = api_client.get("/v1/catalogs/elsewhere/items/gone-1/image")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert "is not on this server" in response.json()["detail"]
