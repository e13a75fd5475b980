"""The filter parameters of POST /v1/search, through the ASGI stack, against the session's shop catalog."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from index.filters import canonical

if TYPE_CHECKING:
    from service.runtime import Runtime
    from tests.api_fixtures import ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def search(client: TestClient, data: bytes, query: str = "", **fields: Any) -> Any:
    return client.post(
        "/v1/search" + query,
        files={"image": ("q.jpg", data, "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
    )


def matches(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for r in body["regions"] for m in r["matches"]]


def test_brand_price_and_attribute_filters_hold_for_every_match(
    api_client: TestClient, api_runtime: Runtime, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[0].read_bytes()
    everything = matches(search(api_client, photo, k=30).json())
    assert len(everything) == 30  # the whole catalog
    brand = everything[3]["brand"]
    by_brand = search(api_client, photo, k=30, brand=brand.upper())
    assert by_brand.status_code == 200, by_brand.text
    assert matches(by_brand.json()) and all(m["brand"] == brand for m in matches(by_brand.json()))
    prices = sorted(m["price"] for m in everything if m["price"] is not None)
    low, high = prices[len(prices) // 4], prices[3 * len(prices) // 4]
    ranged = matches(search(api_client, photo, k=30, price_min=low, price_max=high).json())
    assert ranged and all(low <= m["price"] <= high for m in ranged)
    # The clothing manifest carries a `kids` attribute: as a form field, a JSON string, a JSON body.
    kids = {m["item_id"] for m in matches(search(api_client, photo, k=30, **{"attr.kids": "true"}).json())}
    grown = {
        m["item_id"] for m in matches(search(api_client, photo, k=30, attributes='{"kids": false}').json())
    }
    stored = api_runtime.store.get_items("shop", [m["item_id"] for m in everything])
    assert kids == {i for i, item in stored.items() if canonical(item.attributes.get("kids")) == "true"}
    assert grown == {i for i, item in stored.items() if canonical(item.attributes.get("kids")) == "false"}
    assert kids | grown == set(stored) and grown
    as_json = api_client.post(
        "/v1/search",
        json={"image_base64": base64.b64encode(photo).decode(), "k": 30, "attributes": {"kids": False}},
    )
    assert as_json.status_code == 200 and {m["item_id"] for m in matches(as_json.json())} == grown
    in_query = search(api_client, photo, query=f"?brand={brand}&attr.kids=false", k=30).json()
    assert {m["item_id"] for m in matches(in_query)} == {
        m["item_id"] for m in matches(by_brand.json())
    } & grown


def test_in_stock_true_finds_nothing_when_no_item_says_so(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[1].read_bytes()
    assert matches(search(api_client, photo, k=5, in_stock="true").json()) == []
    assert len(matches(search(api_client, photo, k=5, in_stock="false").json())) == 5  # unknown stays


def test_bad_filter_values_are_422_naming_the_field(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[0].read_bytes()
    for fields, name in (
        ({"price_min": "cheap"}, "price_min"),
        ({"price_min": 50, "price_max": 10}, "price_max"),
        ({"attributes": "{not json"}, "attributes"),
        ({"attributes": '{"colors": ["red"]}'}, "attributes"),
        ({"in_stock": "maybe"}, "in_stock"),
    ):
        response = search(api_client, photo, **fields)
        assert response.status_code == 422, (fields, response.text)
        assert name in response.text
