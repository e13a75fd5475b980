"""Fixtures of the API tests: one real catalog, one app and client per session, a local image server.

Test modules load these with ``pytest_plugins = ["tests.api_fixtures"]``. Everything is real:
MobileNetV2 weights, FAISS, a SQLite file, HTTP through the ASGI stack (and a real socket for
image URLs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from embedder import Embedder
from lookalike.settings import (
    ApiSettings,
    DetectorSettings,
    EmbedderSettings,
    IngestSettings,
    SafetySettings,
    Settings,
)
from service.runtime import Runtime
from tests.images import CLOTHING, CLOTHING_IMAGES, clothing_photos

CATALOG = "shop"
CATALOG_SIZE = 30
API_EMBEDDER = EmbedderSettings(spec="torchvision:mobilenet_v2", device="cpu", batch_size=16)


@dataclass(frozen=True)
class ShopCatalog:
    """The session catalog: the first 30 labelled clothing photos, one item per photo."""

    name: str
    photos: list[Path]
    labels: dict[str, str]
    index_version: str

    def item_id(self, n: int) -> str:
        return self.photos[n].stem


@pytest.fixture(scope="session")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Whole-image detector (fast, deterministic); the app preloads and defaults to the shop catalog."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("api"),
        embedder=API_EMBEDDER,
        detector=DetectorSettings(spec="none"),
        api=ApiSettings(
            default_catalog=CATALOG, preload_catalogs=[CATALOG], fetch_allow_private_networks=True
        ),
        ingest=IngestSettings(fetch_allow_private_networks=True),
        safety=SafetySettings(rules=[]),  # the gate has tests of its own (test_safety_gate.py)
    )


@pytest.fixture(scope="session")
def api_runtime(api_settings: Settings, embedder: Embedder) -> Runtime:
    """A serving runtime (batchers, result cache) that reuses the session's MobileNetV2."""
    runtime = Runtime(api_settings, serving=True)
    runtime.__dict__["embedder"] = embedder  # pre-fill the cached_property: no second model load
    return runtime


@pytest.fixture(scope="session")
def shop_catalog(api_runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> ShopCatalog:
    photos = clothing_photos(CATALOG_SIZE)
    manifest = tmp_path_factory.mktemp("manifest") / "shop.csv"
    write_clothing_manifest(CLOTHING, manifest, item_ids={p.stem for p in photos})
    report = ingest_manifest(
        api_runtime.ingest_parts(), manifest, CATALOG, images_root=CLOTHING_IMAGES, progress=False
    )
    assert report.loaded_items == CATALOG_SIZE and report.index_version, report.summary()
    import csv

    with manifest.open(newline="") as f:
        labels = {row["item_id"]: row["category"] for row in csv.DictReader(f)}
    return ShopCatalog(CATALOG, photos, labels, report.index_version)


@pytest.fixture(scope="session")
def api_app(api_settings: Settings, api_runtime: Runtime, shop_catalog: ShopCatalog) -> FastAPI:
    return create_app(api_settings, runtime=api_runtime)


@pytest.fixture(scope="session")
def api_client(api_app: FastAPI) -> Iterator[TestClient]:
    """Real HTTP requests through the whole ASGI stack, lifespan included; ready before it is handed out."""
    with TestClient(api_app) as client:
        wait_ready(client)
        yield client


def wait_ready(client: TestClient, timeout_s: float = 60.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 or time.monotonic() > deadline:
            body: dict[str, Any] = response.json()
            assert response.status_code == 200, body
            return body
        time.sleep(0.05)


AppFactory = Callable[..., FastAPI]


@pytest.fixture(scope="session")
def api_app_with(api_runtime: Runtime) -> AppFactory:
    """Another app over the loaded runtime with other ``api`` settings: ``api_app_with(max_pixels=10)``."""

    def make(**api: Any) -> FastAPI:
        settings = api_runtime.settings.model_copy(
            update={"api": api_runtime.settings.api.model_copy(update=api)}
        )
        return create_app(settings, runtime=api_runtime)

    return make


# -- a real HTTP server for image URLs -------------------------------------------------------


@dataclass
class ImageServer:
    """Serves canned responses on 127.0.0.1: ``routes[path] = (status, headers, body)``."""

    base: str
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes, content_type: str = "image/jpeg", status: int = 200) -> str:
        self.routes[path] = (status, {"Content-Type": content_type}, body)
        return self.url(path)

    def redirect(self, path: str, to: str) -> str:
        self.routes[path] = (302, {"Location": to}, b"")
        return self.url(path)


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    server_state = ImageServer(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = server_state.routes.get(
                self.path, (404, {"Content-Type": "text/plain"}, b"no")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
