"""The page's HTML shells and static files over HTTP: served by the app, offline, small, escaped."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from web.assets import ASSETS, STATIC_DIR

pytest_plugins = ["tests.api_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["/ui/", "/ui/catalogs", "/ui/catalogs/shop", "/ui/catalogs/shop/items/abc"]
# Anything a browser would fetch from another host: a CDN script, font, stylesheet or image.
REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|from\s+["'](?:https?:)?//|@import"""
)


def test_the_root_sends_people_to_the_page(api_client: TestClient) -> None:
    response = api_client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"].endswith("/ui/")
    assert api_client.get("/ui", follow_redirects=True).url.path == "/ui/"


def test_every_page_is_html_whose_assets_the_app_serves(api_client: TestClient) -> None:
    for path in PAGES:
        response = api_client.get(path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        assert '<html lang="en">' in html and 'name="viewport"' in html
        assert 'data-api="/v1"' in html and 'href="#main"' in html
        for url in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html):
            assert api_client.get(url).status_code == 200, url
    assert 'data-default-catalog="shop"' in api_client.get("/ui/").text


def test_nothing_is_fetched_from_another_host(api_client: TestClient) -> None:
    sources = [p for p in (STATIC_DIR.parent / "templates").iterdir()] + list(STATIC_DIR.iterdir())
    for source in sources:
        assert not REMOTE.search(source.read_text()), source
    for path in PAGES:
        assert not REMOTE.search(api_client.get(path).text), path


def test_assets_revalidate_by_etag_and_only_known_names_are_served(api_client: TestClient) -> None:
    response = api_client.get("/ui/static/search.js")
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache" and response.content == ASSETS["search.js"].body
    again = api_client.get("/ui/static/search.js", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for name in ("nope.js", "..%2Fpages.py", "%2E%2E%2Fassets.py"):
        assert api_client.get(f"/ui/static/{name}").status_code == 404, name


def test_the_pages_weigh_little(api_client: TestClient) -> None:
    shells = sum(len(api_client.get(path).content) for path in PAGES)
    assets = sum(len(asset.body) for asset in ASSETS.values())
    assert shells + assets < 100_000, (shells, assets)  # the goal is 300 kB with API answers included


def test_names_from_the_address_are_escaped(api_client: TestClient) -> None:
    html = api_client.get('/ui/catalogs/shop/items/"><script>alert(1)</script>').text
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_behind_a_proxy_every_link_carries_its_prefix(api_app: FastAPI) -> None:
    with TestClient(api_app, root_path="/lookalike") as client:
        html = client.get("/ui/").text
    assert 'data-api="/lookalike/v1"' in html and 'href="/lookalike/ui/static/app.css"' in html
    assert 'href="/ui/' not in html


def test_only_images_in_the_examples_folder_are_served(api_client: TestClient, api_app: FastAPI) -> None:
    folder = api_app.state.settings.data_dir / "examples"
    folder.mkdir(exist_ok=True)
    (folder / "shot-a.png").write_bytes(b"\x89PNG fake")
    (folder / "notes.txt").write_text("private")
    assert api_client.get("/ui/examples/shot-a.png").content == b"\x89PNG fake"
    assert 'data-example="shot-a.png"' in api_client.get("/ui/").text
    for name in ("notes.txt", "..%2Fcatalog.db", "missing.jpg"):
        assert api_client.get(f"/ui/examples/{name}").status_code == 404, name


def test_pages_stay_out_of_the_api_document(api_client: TestClient) -> None:
    paths = api_client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_the_readme_shows_the_page() -> None:
    picture = ROOT / "docs" / "web-page.png"
    assert "docs/web-page.png" in (ROOT / "README.md").read_text()
    with Image.open(picture) as img:
        assert img.format == "PNG" and img.width >= 800
    assert picture.stat().st_size < 300_000
