"""Fixtures of the web page's tests: the real app on a real port, Debian's Chromium driven by Playwright.

Test modules load these with ``pytest_plugins = ["tests.api_fixtures", "tests.web_fixtures"]``.
The server searches the API tests' 30-item catalog with the default garment detector, so a
screenshot gets boxes with categories. Chromium is the system's (``apt-get install chromium``);
Playwright downloads no browser. Both are stopped when the session ends.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn
from PIL import Image

from api.app import create_app
from evaluation.synth.screenshot import compose_screenshot_full
from lookalike.settings import CacheSettings, DetectorSettings, Settings
from lookalike.types import Box
from service.runtime import Runtime

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

    from tests.api_fixtures import ShopCatalog

CHROMIUM = Path(os.environ.get("LOOKALIKE_CHROMIUM", "/usr/bin/chromium"))
# Headless as root, and quiet: this machine's network is closed, so no background services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def web_runtime(api_settings: Settings, api_runtime: Runtime, shop_catalog: ShopCatalog) -> Runtime:
    """The shop catalog searched with the default garment detector, without the result cache:
    every search the browser makes is computed, so its timings can be compared with the API's."""
    settings = api_settings.model_copy(
        update={"detector": DetectorSettings(), "cache": CacheSettings(max_bytes=0)}
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = api_runtime.embedder  # one MobileNetV2 per test session
    return runtime


@pytest.fixture(scope="session")
def web_url(web_runtime: Runtime) -> Iterator[str]:
    """The app served by uvicorn on a free port of 127.0.0.1, ready to search."""
    app = create_app(web_runtime.settings, runtime=web_runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="web-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        while httpx.get(f"{url}/readyz").status_code != 200:
            assert time.monotonic() < deadline, httpx.get(f"{url}/readyz").text
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; skipped (saying how to install it) where it is absent,
    unless LOOKALIKE_REQUIRE_BROWSER=1 (CI) turns the skip into a failure."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: apt-get install chromium (or set LOOKALIKE_CHROMIUM)"
        if os.environ.get("LOOKALIKE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageErrors:
    """Script errors and failed API calls a page reported; a test fails if any is left."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, text: str) -> None:
        """A test that provokes an error (a 404 it asked for) says which."""
        self.allowed.append(text)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


def open_page(browser: Browser, errors: PageErrors, viewport: dict[str, int], *, phone: bool = False) -> Page:
    context = browser.new_context(viewport=viewport, has_touch=phone, is_mobile=phone)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda exc: errors.errors.append(f"pageerror: {exc}"))
    page.on("console", errors.on_console)
    return page


@pytest.fixture
def page(chromium: Browser, page_errors: PageErrors) -> Iterator[Page]:
    """A fresh desktop-sized tab; the test fails if the page threw or logged an error."""
    tab = open_page(chromium, page_errors, DESKTOP)
    yield tab
    tab.context.close()
    assert not page_errors.unexpected(), page_errors.errors


@pytest.fixture
def phone_page(chromium: Browser, page_errors: PageErrors) -> Iterator[Page]:
    """A phone-sized touch screen."""
    tab = open_page(chromium, page_errors, PHONE, phone=True)
    yield tab
    tab.context.close()
    assert not page_errors.unexpected(), page_errors.errors


@dataclass(frozen=True)
class Query:
    """A synthetic phone screenshot holding catalog items, with where each one is."""

    path: Path
    item_ids: list[str]
    boxes: list[Box]
    size: tuple[int, int]


@pytest.fixture(scope="session")
def screenshot(shop_catalog: ShopCatalog, web_runtime: Runtime) -> Query:
    """Two catalog items pasted into a fake shop app (evaluation/synth), seeded: the same file every run.

    It lies in the server's examples folder, so the page offers it too."""
    picks = [4, 9]
    products = [Image.open(shop_catalog.photos[n]).convert("RGB") for n in picks]
    shot = compose_screenshot_full(products, random.Random(3))
    path = web_runtime.settings.data_dir / "examples" / "screenshot.jpg"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(shot.jpeg)
    with Image.open(path) as img:
        size = img.size
    return Query(path, [shop_catalog.item_id(n) for n in picks], shot.boxes, size)
