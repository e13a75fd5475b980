"""Bad input never gets a 500: each case answers its 4xx as a problem document that names the problem."""

from __future__ import annotations

import base64
import logging
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.images import encode

if TYPE_CHECKING:
    from tests.api_fixtures import AppFactory, ImageServer, ShopCatalog

pytest_plugins = ["tests.api_fixtures"]

SMALL_LIMIT = 20_000


def assert_problem(response: Any, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert body["instance"] == response.request.url.path
    for needle in needles:
        assert needle in body["detail"], body
    assert "Traceback" not in response.text
    return body


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge canvas and one tiny compressed row: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def noise_png(side: int = 200) -> bytes:
    import numpy as np

    pixels = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "PNG")


@pytest.fixture(scope="module")
def photo(shop_catalog: ShopCatalog) -> bytes:
    return shop_catalog.photos[0].read_bytes()


@pytest.fixture(scope="module")
def small_client(api_app_with: AppFactory) -> Iterator[TestClient]:
    """A server with a 20 kB upload limit."""
    with TestClient(api_app_with(max_upload_bytes=SMALL_LIMIT)) as client:
        yield client


Req = Callable[[TestClient, bytes], Any]  # the TestClient's response (httpx2 or httpx)


def multipart(data: bytes, name: str = "x.jpg", **fields: Any) -> Req:
    return lambda c, _: c.post(
        "/v1/search", files={"image": (name, data, "image/jpeg")}, data={k: str(v) for k, v in fields.items()}
    )


def with_photo(**fields: Any) -> Req:
    return lambda c, photo: c.post(
        "/v1/search",
        files={"image": ("x.jpg", photo, "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
    )


def raw(body: bytes, content_type: str | None) -> Req:
    headers = {"content-type": content_type} if content_type else {}
    return lambda c, _: c.post("/v1/search", content=body, headers=headers)


def json_body(**payload: Any) -> Req:
    return lambda c, _: c.post("/v1/search", json=payload)


def b64_photo(**payload: Any) -> Req:
    return lambda c, photo: c.post(
        "/v1/search", json={"image_base64": base64.b64encode(photo).decode(), **payload}
    )


BAD_REQUESTS: list[tuple[str, Req, int, str]] = [
    ("not an image", multipart(b"hello, this is a text file"), 415, "not a recognised image format"),
    ("empty upload", multipart(b""), 415, "empty"),
    ("truncated jpeg", lambda c, photo: multipart(photo[: len(photo) // 2])(c, photo), 415, "truncated"),
    ("decompression bomb", multipart(png_claiming(30_000, 30_000), "bomb.png"), 413, "900000000 pixels"),
    ("unknown catalog", with_photo(catalog="nope"), 404, "'nope'"),
    ("catalog with a path", with_photo(catalog="../etc"), 422, "catalog"),
    ("k zero", with_photo(k=0), 422, "k: Input should be greater than or equal to 1"),
    ("k too big", with_photo(k=101), 422, "k: Input should be less than or equal to 100"),
    ("k not a number", with_photo(k="many"), 422, "k: Input should be a valid integer"),
    ("box not numbers", with_photo(box="a,b,c,d"), 422, "box"),
    ("box of three", with_photo(box="1,2,3"), 422, "box must be 4 numbers"),
    ("box outside", with_photo(box="0,0,5000,10"), 422, "lies outside the"),
    ("box empty", with_photo(box="10,10,10,50"), 422, "must have x2 > x1"),
    ("box tiny", with_photo(box="10,10,11,11"), 422, "too small"),
    ("min_score out of range", with_photo(min_score=2), 422, "min_score"),
    ("unknown field", with_photo(kk=5), 422, "kk: Extra inputs are not permitted"),
    ("bad base64", json_body(image_base64="not base64!!"), 422, "not valid base64"),
    ("empty base64", json_body(image_base64="  "), 422, "image_base64 is empty"),
    (
        "base64 of text",
        json_body(image_base64=base64.b64encode(b"plain words").decode()),
        415,
        "not a recognised",
    ),
    ("both image forms", json_body(image_base64="aGk=", image_url="http://x/y.jpg"), 422, "exactly one"),
    ("no image in json", json_body(k=3), 422, "exactly one of image_base64 or image_url"),
    ("json box of strings", b64_photo(box=["a", 1, 2, 3]), 422, "box"),
    ("categories not a list", b64_photo(categories=5), 422, "categories"),
    ("non-JSON with a JSON type", raw(b"image=abc", "application/json"), 400, "not valid JSON"),
    ("JSON array", raw(b"[1, 2]", "application/json"), 400, "must be an object"),
    ("empty JSON body", raw(b"", "application/json"), 400, "empty body"),
    ("empty raw body", raw(b"", "image/jpeg"), 415, "empty"),
    ("unsupported type", raw(b"hello", "text/plain"), 415, "'text/plain' is not accepted"),
    ("no content type", raw(b"hello", None), 415, "missing Content-Type"),
    ("multipart without boundary", raw(b"--x\r\n", "multipart/form-data"), 400, "multipart"),
    (
        "multipart without image",
        lambda c, _: c.post("/v1/search", files={"k": (None, "5")}),
        422,
        "no 'image' file field",
    ),
    (
        "image as a text field",
        lambda c, _: c.post("/v1/search", files={"image": (None, "abc")}),
        422,
        "must be a file part",
    ),
    (
        "two files",
        lambda c, photo: c.post(
            "/v1/search", files=[("image", ("a.jpg", photo)), ("extra", ("b.jpg", photo))]
        ),
        400,
        "Too many files",
    ),
    ("image url not http", json_body(image_url="ftp://example.com/x.jpg"), 422, "http or https"),
    ("image url garbage", json_body(image_url="http://"), 422, "image_url"),
    (
        "offset past the database",
        lambda c, _: c.get("/v1/catalogs/shop/items?offset=9223372036854775808"),
        422,
        "offset",
    ),
]


@pytest.mark.parametrize(("name", "send", "status", "needle"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_is_a_clear_client_error(
    api_client: TestClient, photo: bytes, name: str, send: Req, status: int, needle: str
) -> None:
    assert_problem(send(api_client, photo), status, needle)


def test_validation_errors_list_each_offending_field(api_client: TestClient, photo: bytes) -> None:
    response = with_photo(k=0, box="1,2", min_score="high")(api_client, photo)
    body = assert_problem(response, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "k"),
        ("body", "box"),
        ("body", "min_score"),
    }
    in_query = api_client.post("/v1/search?k=500", files={"image": ("x.jpg", photo, "image/jpeg")})
    assert assert_problem(in_query, 422, "query.k")["errors"][0]["loc"] == ["query", "k"]


def test_upload_over_the_byte_limit_is_413(small_client: TestClient) -> None:
    big = noise_png()
    assert len(big) > SMALL_LIMIT + 64 * 1024
    assert_problem(multipart(big, "big.png")(small_client, b""), 413, "over the limit of")
    # a file that fits the body allowance but not the image limit is refused by the decoder
    mid = noise_png(90)
    assert SMALL_LIMIT < len(mid) < SMALL_LIMIT + 64 * 1024
    assert_problem(
        multipart(mid, "mid.png")(small_client, b""), 413, f"over the limit of {SMALL_LIMIT} bytes"
    )
    encoded = base64.b64encode(mid).decode()
    assert_problem(
        small_client.post("/v1/search", json={"image_base64": encoded}), 413, f"{SMALL_LIMIT} bytes"
    )


def test_declared_content_length_is_refused_before_reading(small_client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        yield b"x" * 100

    response = small_client.post(
        "/v1/search",
        content=body(),
        headers={"content-type": "image/jpeg", "content-length": "999999999"},
    )
    assert_problem(response, 413, "999999999 bytes")


def test_streamed_upload_is_cut_off_at_the_limit(small_client: TestClient) -> None:
    def body() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(100):
            yield b"\xff" * 10_000

    response = small_client.post("/v1/search", content=body(), headers={"content-type": "image/jpeg"})
    assert_problem(response, 413, f"over the limit of {SMALL_LIMIT} bytes")


def test_pixel_limit_applies_to_real_images(api_app_with: AppFactory, photo: bytes) -> None:
    with TestClient(api_app_with(max_pixels=10_000)) as client:
        assert_problem(multipart(photo)(client, photo), 413, "over the limit of 10000 pixels")


def test_url_fetch_can_be_disabled(api_app_with: AppFactory, image_server: ImageServer, photo: bytes) -> None:
    url = image_server.add("/disabled.jpg", photo)
    with TestClient(api_app_with(allow_url_fetch=False)) as client:
        assert_problem(client.post("/v1/search", json={"image_url": url}), 403, "does not fetch image URLs")
        base64_still_works = client.post(
            "/v1/search", json={"image_base64": base64.b64encode(photo).decode()}
        )
        assert base64_still_works.status_code == 200


def test_image_urls_may_not_reach_private_addresses_by_default(
    api_app_with: AppFactory, image_server: ImageServer, photo: bytes
) -> None:
    url = image_server.add("/internal.jpg", photo)  # served on 127.0.0.1
    with TestClient(api_app_with(fetch_allow_private_networks=False)) as client:
        assert_problem(client.post("/v1/search", json={"image_url": url}), 422, "non-public address")
        for probe in (
            "http://10.0.0.1/x.jpg",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:1/x",
        ):
            assert_problem(client.post("/v1/search", json={"image_url": probe}), 422, "non-public address")


def test_unfetchable_urls_are_client_errors(
    api_client: TestClient, small_client: TestClient, image_server: ImageServer
) -> None:
    missing = image_server.url("/missing.jpg")
    assert_problem(api_client.post("/v1/search", json={"image_url": missing}), 422, "HTTP 404")
    page = image_server.add("/page.html", b"<html>hi</html>", "text/html")
    assert_problem(api_client.post("/v1/search", json={"image_url": page}), 422, "text/html, not an image")
    loop = image_server.redirect("/loop", image_server.url("/loop"))
    assert_problem(api_client.post("/v1/search", json={"image_url": loop}), 422, "redirects")
    not_an_image = image_server.add("/fake.jpg", b"GIF89a but not really")
    assert_problem(api_client.post("/v1/search", json={"image_url": not_an_image}), 415, "fake.jpg")
    big = image_server.add("/big.png", noise_png(), "image/png")
    assert_problem(small_client.post("/v1/search", json={"image_url": big}), 413, "over the limit")
    closed = "http://127.0.0.1:9/x.jpg"  # discard port: nothing listens
    assert_problem(api_client.post("/v1/search", json={"image_url": closed}), 422, "could not be fetched")


def test_unknown_routes_and_methods_are_problems(api_client: TestClient) -> None:
    assert_problem(api_client.get("/v2/search"), 404, "no route matches GET /v2/search")
    assert_problem(api_client.get("/v1/search"), 405, "GET is not allowed")


def test_a_bug_is_a_bare_500_and_its_traceback_is_logged(
    api_app_with: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = api_app_with()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal state 1234")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR, "api"):
        response = client.get("/boom")
    body = assert_problem(response, 500, "internal error")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["title"] == "Internal Server Error"
    assert any("secret internal state 1234" in (r.exc_text or "") for r in caplog.records)


def _search_catalog_without_index(settings: Any, embedder: Any, photo: bytes) -> dict[str, Any]:
    from api.app import create_app
    from service.runtime import Runtime

    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    with TestClient(create_app(settings, runtime=runtime)) as client:
        response = client.post("/v1/search", files={"image": ("q.jpg", photo, "image/jpeg")})
    return assert_problem(response, 404, "'shop' has no published index", "lookalike ingest")


def test_a_catalog_without_an_index_names_the_data_folder_the_server_reads_but_no_server_path(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, api_settings: Any, embedder: Any, photo: bytes
) -> None:
    """Ingest wrote into ./var of another folder, so this server finds nothing: the 404 says which
    folder it reads, relative to where it runs, as the user typed it."""
    monkeypatch.chdir(tmp_path)
    here = api_settings.model_copy(update={"data_dir": tmp_path / "var"})
    body = _search_catalog_without_index(here, embedder, photo)
    assert "data folder 'var' (data_dir)" in body["detail"]
    assert str(tmp_path) not in str(body)


def test_a_data_folder_outside_the_working_folder_is_named_only_by_its_setting(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, api_settings: Any, embedder: Any, photo: bytes
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    there = api_settings.model_copy(update={"data_dir": tmp_path / "data"})
    body = _search_catalog_without_index(there, embedder, photo)
    assert "data folder set by data_dir (LOOKALIKE_DATA_DIR)" in body["detail"]
    assert str(tmp_path) not in str(body)


def test_a_parameter_given_in_both_the_query_and_the_body_is_refused(
    api_client: TestClient, photo: bytes
) -> None:
    """A bad price_max in the query string used to be silently ignored when the body repeated it."""
    response = api_client.post(
        "/v1/search?price_max=abc",
        json={"image_base64": base64.b64encode(photo).decode(), "price_max": 50},
    )
    body = assert_problem(response, 422, "price_max", "send it once")
    assert body["errors"][0]["loc"] == ["query", "price_max"]
    multipart = api_client.post(
        "/v1/search?k=3", files={"image": ("x.jpg", photo, "image/jpeg")}, data={"k": "4"}
    )
    assert_problem(multipart, 422, "k: given both")
    alone = api_client.post("/v1/search?k=3", files={"image": ("x.jpg", photo, "image/jpeg")})
    assert alone.status_code == 200
