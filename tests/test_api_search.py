"""POST /v1/search end to end: real photos, real MobileNetV2, FAISS and SQLite, through the ASGI stack."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.images import encode

if TYPE_CHECKING:
    from tests.api_fixtures import ImageServer, ShopCatalog

pytest_plugins = ["tests.api_fixtures"]


def upload(client: TestClient, data: bytes, name: str = "shot.jpg", **fields: Any) -> Any:
    return client.post(
        "/v1/search", files={"image": (name, data, "image/jpeg")}, data={k: str(v) for k, v in fields.items()}
    )


def top_ids(body: dict[str, Any], region: int = 0) -> list[str]:
    return [m["item_id"] for m in body["regions"][region]["matches"]]


def test_an_uploaded_catalog_photo_finds_its_own_item_first(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[3]
    response = upload(api_client, photo.read_bytes(), k=5)
    assert response.status_code == 200, response.text
    body = response.json()
    width, height = Image.open(photo).size
    assert (body["catalog"], body["image_width"], body["image_height"]) == ("shop", width, height)
    assert body["index_version"] == shop_catalog.index_version
    [region] = body["regions"]  # detector "none": the whole photo is one region
    assert region["box"] == [0, 0, width, height]
    assert len(region["matches"]) == 5
    best = region["matches"][0]
    assert best["item_id"] == photo.stem and best["score"] > 0.99
    assert best["category"] == shop_catalog.labels[photo.stem]
    assert best["brand"].startswith("Seller ") and best["currency"] == "EUR" and best["price"] > 0
    assert best["image_url"] == f"http://testserver/v1/catalogs/shop/items/{photo.stem}/image"
    scores = [m["score"] for m in region["matches"]]
    assert scores == sorted(scores, reverse=True)
    assert {"read", "decode", "embed", "search", "metadata", "total"} <= set(body["timings_ms"])


def test_base64_json_finds_the_same_item(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    photo = shop_catalog.photos[7]
    b64 = base64.b64encode(photo.read_bytes()).decode()
    plain = api_client.post("/v1/search", json={"image_base64": b64, "k": 3})
    data_url = api_client.post("/v1/search", json={"image_base64": f"data:image/jpeg;base64,{b64}", "k": 3})
    for response in (plain, data_url):
        assert response.status_code == 200, response.text
        assert top_ids(response.json())[0] == photo.stem
        assert len(top_ids(response.json())) == 3


def test_image_url_is_fetched_and_searched(
    api_client: TestClient, shop_catalog: ShopCatalog, image_server: ImageServer
) -> None:
    photo = shop_catalog.photos[11]
    url = image_server.add("/photos/11.jpg", photo.read_bytes())
    response = api_client.post("/v1/search", json={"image_url": url, "k": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert top_ids(body)[0] == photo.stem
    assert body["timings_ms"]["fetch"] > 0


def test_image_url_follows_a_redirect(
    api_client: TestClient, shop_catalog: ShopCatalog, image_server: ImageServer
) -> None:
    photo = shop_catalog.photos[12]
    target = image_server.add("/photos/12.jpg", photo.read_bytes())
    response = api_client.post("/v1/search", json={"image_url": image_server.redirect("/short/12", target)})
    assert response.status_code == 200, response.text
    assert top_ids(response.json())[0] == photo.stem


def test_raw_image_body_with_parameters_in_the_query_string(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[5]
    response = api_client.post(
        "/v1/search?k=4&catalog=shop", content=photo.read_bytes(), headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    ids = top_ids(response.json())
    assert ids[0] == photo.stem and len(ids) == 4


def test_tap_to_search_box_finds_the_product_inside_a_bigger_screenshot(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    product = Image.open(shop_catalog.photos[9]).convert("RGB")
    other = Image.open(shop_catalog.photos[20]).convert("RGB")
    shot = Image.new("RGB", (700, 900), (245, 245, 245))
    shot.paste(other, (20, 20))
    shot.paste(product, (360, 500))
    box = [360, 500, 360 + product.width, 500 + product.height]
    response = upload(api_client, encode(shot, "PNG"), "shot.png", box=",".join(map(str, box)), k=3)
    assert response.status_code == 200, response.text
    [region] = response.json()["regions"]
    assert region["box"] == box and region["score"] == 1.0 and region["category"] is None
    assert region["matches"][0]["item_id"] == shop_catalog.item_id(9)
    # the same box as a JSON list in a JSON body
    as_json = api_client.post(
        "/v1/search", json={"image_base64": base64.b64encode(encode(shot, "PNG")).decode(), "box": box}
    )
    assert as_json.status_code == 200 and top_ids(as_json.json())[0] == shop_catalog.item_id(9)


def test_categories_filter_returns_only_those_categories(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[0]
    wanted = {"Shoes", "Dress"}
    assert shop_catalog.labels[photo.stem] not in wanted
    expected = sum(1 for label in shop_catalog.labels.values() if label in wanted)
    response = upload(api_client, photo.read_bytes(), categories="Shoes, Dress", k=20)
    assert response.status_code == 200, response.text
    matches = response.json()["regions"][0]["matches"]
    assert len(matches) == expected
    assert {m["category"] for m in matches} == wanted
    as_list = api_client.post(
        "/v1/search",
        json={
            "image_base64": base64.b64encode(photo.read_bytes()).decode(),
            "categories": ["Shoes"],
            "k": 20,
        },
    )
    assert {m["category"] for m in as_list.json()["regions"][0]["matches"]} == {"Shoes"}


def test_min_score_drops_weaker_matches(api_client: TestClient, shop_catalog: ShopCatalog) -> None:
    data = shop_catalog.photos[2].read_bytes()
    everything = upload(api_client, data, k=10).json()["regions"][0]["matches"]
    threshold = (everything[1]["score"] + everything[0]["score"]) / 2
    kept = upload(api_client, data, k=10, min_score=round(threshold, 4)).json()["regions"][0]["matches"]
    assert len(everything) == 10
    assert [m["item_id"] for m in kept] == [shop_catalog.item_id(2)]


def test_default_catalog_is_used_when_none_is_named(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    response = upload(api_client, shop_catalog.photos[1].read_bytes())
    assert response.status_code == 200
    assert response.json()["catalog"] == "shop" and len(top_ids(response.json())) == 10


@pytest.mark.parametrize(
    ("make", "fmt", "swapped"),
    [
        ("exif_rotated", "JPEG", True),
        ("rgba", "PNG", False),
        ("cmyk", "JPEG", False),
        ("gray", "JPEG", False),
        ("rgb", "WEBP", False),
        ("animated", "GIF", False),
    ],
)
def test_accepted_image_formats(
    api_client: TestClient, shop_catalog: ShopCatalog, make: str, fmt: str, swapped: bool
) -> None:
    photo = Image.open(shop_catalog.photos[4]).convert("RGB")
    kwargs: dict[str, Any] = {}
    if make == "exif_rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise to display
        kwargs["exif"] = exif
        img = photo
    elif make == "rgba":
        img = photo.convert("RGBA")
        img.putalpha(Image.linear_gradient("L").resize(photo.size))
    elif make == "cmyk":
        img = photo.convert("CMYK")
    elif make == "gray":
        img = photo.convert("L")
    elif make == "animated":
        img = photo.convert("P")
        kwargs.update(save_all=True, append_images=[Image.new("P", photo.size, 3)], duration=100)
    else:
        img = photo
    data = encode(img, fmt, **kwargs)
    assert Image.open(io.BytesIO(data)).format == fmt
    response = upload(api_client, data, f"query.{fmt.lower()}", k=3)
    assert response.status_code == 200, response.text
    body = response.json()
    size = (body["image_width"], body["image_height"])
    assert size == ((photo.height, photo.width) if swapped else photo.size)
    if make in ("rgba", "cmyk", "gray", "animated", "rgb"):
        assert top_ids(body)[0] == shop_catalog.item_id(4)  # first GIF frame is the photo


def test_regions_parameter_is_validated_and_documented(
    api_client: TestClient, shop_catalog: ShopCatalog
) -> None:
    photo = shop_catalog.photos[2].read_bytes()
    for mode in ("none", "auto", "all"):
        response = upload(api_client, photo, k=2, regions=mode)
        assert response.status_code == 200, response.text
        assert len(response.json()["regions"]) == 1  # detector "none": the whole photo either way
    as_query = api_client.post(
        "/v1/search?regions=none", content=photo, headers={"content-type": "image/jpeg"}
    )
    assert as_query.status_code == 200, as_query.text
    bad = upload(api_client, photo, regions="everything")
    assert bad.status_code == 422 and "regions" in bad.text
    tapped = upload(api_client, photo, box="0,0,50,50", regions="all")
    assert tapped.status_code == 422 and "box" in tapped.json()["detail"]
    spec = api_client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/v1/search"]["post"]["parameters"]}
    assert params["regions"]["schema"]["enum"] == ["none", "auto", "all"]
    form = spec["paths"]["/v1/search"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["regions"]["default"] == "auto"
