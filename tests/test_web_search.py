"""The search page in a real browser: Debian's Chromium, the real app on a real port, real models.

A synthetic shop-app screenshot holds two catalog items; the page must box both, show each
one's matches on a tap, re-query on a filter, search a box dragged by hand, and take images
from a file, the clipboard, a drop or a URL, by mouse, keyboard and on a phone-sized screen.
"""

from __future__ import annotations

import base64
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lookalike.types import Box

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Response

    from tests.api_fixtures import ImageServer, ShopCatalog
    from tests.web_fixtures import PageErrors, Query

pytest_plugins = ["tests.api_fixtures", "tests.web_fixtures"]
pytestmark = pytest.mark.browser


def searches(page: Page) -> int:
    return int(page.evaluate("Number(document.body.dataset.searches || 0)"))


def after_search(page: Page, action: Callable[[], object]) -> None:
    """Do ``action`` and wait until the page has rendered the answer it causes."""
    before = searches(page)
    action()
    page.wait_for_function(f"Number(document.body.dataset.searches || 0) > {before}")


def open_search(page: Page, web_url: str, query: str = "") -> None:
    page.goto(f"{web_url}/ui/{query}")
    page.wait_for_selector("body[data-ready]")


def upload(page: Page, path: Path) -> None:
    after_search(page, lambda: page.set_input_files("#file", str(path)))


def region_boxes(page: Page) -> list[Box]:
    return [
        Box(*map(float, str(b.get_attribute("data-box")).split(",")))
        for b in page.locator("button.box").all()
    ]


def region_of(page: Page, truth: Box) -> int:
    """The region button that covers ``truth`` best."""
    boxes = region_boxes(page)
    best = max(range(len(boxes)), key=lambda i: boxes[i].iou(truth))
    assert boxes[best].iou(truth) > 0.5, (boxes, truth)
    return best


def grid_ids(page: Page) -> list[str]:
    return [str(c.get_attribute("data-item-id")) for c in page.locator("#results li.card").all()]


def test_a_screenshot_gets_a_box_per_product_and_a_tap_shows_that_products_matches(
    page: Page, web_url: str, screenshot: Query
) -> None:
    open_search(page, web_url)
    upload(page, screenshot.path)
    labels = [str(b.get_attribute("aria-label")) for b in page.locator("button.box").all()]
    assert len(labels) >= 2 and all(" · " in label for label in labels), labels
    assert "products found in shop" in page.locator("#status").inner_text()
    timings = page.locator("#timings").inner_text()
    assert all(stage in timings for stage in ("decode", "detect", "embed", "shown in")), timings
    for item_id, truth in zip(screenshot.item_ids, screenshot.boxes, strict=True):
        region = page.locator(f"button.box[data-region='{region_of(page, truth)}']")
        region.click()
        assert region.get_attribute("aria-pressed") == "true"
        assert item_id in grid_ids(page)[:3], (item_id, grid_ids(page))
    card = page.locator("#results li.card").first
    assert card.locator("h3 a").inner_text() and card.locator(".brand").inner_text().startswith("Seller ")
    assert card.locator(".price").inner_text() and "score" in card.locator(".score").inner_text()
    assert card.locator("h3 a").get_attribute("href", timeout=1000) == (
        f"/ui/catalogs/shop/items/{grid_ids(page)[0]}"
    )
    page.wait_for_function("[...document.images].every((img) => img.complete)")
    for img in page.locator("img").all():
        assert img.get_attribute("alt") is not None  # decorative ones say so with alt=""
    assert all(
        str(img.get_attribute("alt")).startswith("Photo of ") for img in page.locator("#results img").all()
    )
    shot = os.environ.get("LOOKALIKE_WEB_SCREENSHOT")
    if shot:  # `make web-screenshot`: the README's picture, from this very page
        page.mouse.move(0, 0)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=shot)


def test_filters_re_query_and_clear(
    page: Page, web_url: str, screenshot: Query, shop_catalog: ShopCatalog
) -> None:
    open_search(page, web_url)
    upload(page, screenshot.path)
    item_id, truth = screenshot.item_ids[1], screenshot.boxes[1]
    page.locator(f"button.box[data-region='{region_of(page, truth)}']").click()
    unfiltered = grid_ids(page)
    category = shop_catalog.labels[item_id]
    after_search(page, lambda: page.select_option("#f-category", category))
    kept = grid_ids(page)
    assert item_id in kept and all(shop_catalog.labels[i] == category for i in kept)
    assert set(kept) != set(unfiltered)
    price = float(page.locator(f"li.card[data-item-id='{item_id}']").get_attribute("data-price") or 0)
    after_search(page, lambda: page.fill("#f-max", f"{price - 0.01:.2f}"))
    assert item_id not in grid_ids(page)
    after_search(page, lambda: page.click("#filters button[type=reset]"))
    assert grid_ids(page) == unfiltered


def test_dragging_a_box_searches_that_area(page: Page, web_url: str, screenshot: Query) -> None:
    open_search(page, web_url)
    upload(page, screenshot.path)
    found = len(region_boxes(page))
    item_id, truth = screenshot.item_ids[0], screenshot.boxes[0]
    img = page.locator("#shot").bounding_box()
    assert img is not None
    scale = img["width"] / screenshot.size[0]

    def drag() -> None:
        page.mouse.move(img["x"] + truth.x1 * scale, img["y"] + truth.y1 * scale)
        page.mouse.down()
        page.mouse.move(img["x"] + truth.x2 * scale, img["y"] + truth.y2 * scale, steps=6)
        page.mouse.up()

    after_search(page, drag)
    drawn = page.locator("button.box.drawn")
    assert drawn.count() == 1 and len(region_boxes(page)) == found + 1
    assert drawn.get_attribute("aria-pressed") == "true" and "your box" in str(
        drawn.get_attribute("aria-label")
    )
    assert Box(*map(float, str(drawn.get_attribute("data-box")).split(","))).iou(truth) > 0.9
    assert grid_ids(page)[0] == item_id


PASTE_OR_DROP = """([data, event]) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "photo.jpg", { type: "image/jpeg" }));
    const target = event === "paste" ? document : document.getElementById("drop");
    const init = { bubbles: true, cancelable: true };
    target.dispatchEvent(event === "paste"
        ? new ClipboardEvent("paste", { ...init, clipboardData: transfer })
        : new DragEvent("drop", { ...init, dataTransfer: transfer }));
}"""
"""A pasted or dropped file, as the clipboard or a drag from the desktop hands it to the page."""


def test_paste_drop_and_url_each_start_a_search(
    page: Page, web_url: str, shop_catalog: ShopCatalog, image_server: ImageServer
) -> None:
    open_search(page, web_url)
    for n, event in [(2, "paste"), (5, "drop")]:
        photo = shop_catalog.photos[n]
        data = base64.b64encode(photo.read_bytes()).decode()
        after_search(page, partial(page.evaluate, PASTE_OR_DROP, [data, event]))
        assert grid_ids(page)[0] == photo.stem, event
    photo = shop_catalog.photos[8]
    url = image_server.add("/web/photo-8.jpg", photo.read_bytes())
    page.fill("#url", url)
    after_search(page, lambda: page.click("#url-form button"))
    assert grid_ids(page)[0] == photo.stem


def test_an_example_link_searches_in_one_click(page: Page, web_url: str, screenshot: Query) -> None:
    """What `make demo` prints: the page opens and searches the example screenshot."""
    after_search(page, lambda: page.goto(f"{web_url}/ui/?example={screenshot.path.name}"))
    assert len(region_boxes(page)) >= 2
    assert page.locator(f"button.example[data-example='{screenshot.path.name}']").count() == 1


def test_a_broken_image_is_explained_and_the_page_stays_usable(
    page: Page, page_errors: PageErrors, web_url: str, screenshot: Query, tmp_path: Path
) -> None:
    page_errors.allow("status of 415")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    open_search(page, web_url)
    page.set_input_files("#file", str(broken))
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("body").get_attribute("data-state") == "error"
    upload(page, screenshot.path)
    assert page.locator("#error").is_hidden() and len(region_boxes(page)) >= 2


def test_an_api_key_typed_once_goes_with_every_call(page: Page, web_url: str, screenshot: Query) -> None:
    """Where tenants' keys (issue 17) plug in: the page sends the key; today's server ignores it."""
    open_search(page, web_url)
    page.click(".key summary")
    page.fill("#api-key", "lk_test_key")
    page.locator("#api-key").dispatch_event("change")
    sent: list[str | None] = []

    def record(request: Request) -> None:
        # Calls made by the scripts; <img> photo requests cannot carry headers (issue 17 decides those).
        if request.resource_type == "fetch":
            sent.append(request.headers.get("authorization"))

    page.on("request", record)
    upload(page, screenshot.path)
    assert sent and set(sent) == {"Bearer lk_test_key"}


def test_every_control_is_reachable_and_usable_by_keyboard(
    page: Page, web_url: str, screenshot: Query
) -> None:
    open_search(page, web_url)
    upload(page, screenshot.path)
    page.locator("body").focus()
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert {"file", "url", "catalog", "f-category", "f-brand", "f-min", "f-max", "f-stock"} <= reached
    assert "box" in reached or "box drawn" in reached
    other = page.locator("button.box[aria-pressed='false']").first.get_attribute("data-region")
    page.focus(f"button.box[data-region='{other}']")
    page.keyboard.press("Enter")
    assert page.get_attribute(f"button.box[data-region='{other}']", "aria-pressed") == "true"
    assert page.evaluate("document.activeElement.dataset.region") == other  # focus stays on it


def test_on_a_phone_screen_nothing_overflows_and_boxes_still_work(
    phone_page: Page, web_url: str, screenshot: Query
) -> None:
    page = phone_page
    open_search(page, web_url)
    upload(page, screenshot.path)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    img = page.locator("#shot").bounding_box()
    # The picture takes drags, not scrolls: it must leave room above or below to scroll the page by.
    assert img is not None and img["width"] <= 390 and img["height"] <= 844 * 0.8
    truth = screenshot.boxes[1]
    page.locator(f"button.box[data-region='{region_of(page, truth)}']").tap()
    cards = page.locator("#results li.card")
    assert screenshot.item_ids[1] in grid_ids(page)[:3]
    first = cards.first.bounding_box()
    assert first is not None and first["x"] >= 0 and first["x"] + first["width"] <= 390


def test_page_weight_before_catalog_photos_is_under_300_kb_and_all_of_it_is_local(
    page: Page, web_url: str, screenshot: Query
) -> None:
    sizes: dict[str, int] = {}

    def record(response: Response) -> None:
        if not response.url.startswith("blob:"):  # the user's own screenshot, never downloaded
            sizes[response.url] = len(response.body())

    def is_photo(url: str) -> bool:
        return "/v1/catalogs/" in url and "/image" in url

    page.on("response", record)
    open_search(page, web_url)
    # Waits for a catalog photo's response itself: the page can report its images complete
    # before Playwright has delivered their response events to `record`.
    with page.expect_response(lambda response: is_photo(response.url)) as first_photo:
        upload(page, screenshot.path)
    assert first_photo.value.ok
    page.wait_for_function("[...document.images].every((img) => img.complete)")
    photos = [u for u in sizes if is_photo(u)]
    assert all(u.startswith(web_url) for u in sizes), [u for u in sizes if not u.startswith(web_url)]
    page_weight = sum(n for u, n in sizes.items() if u not in photos)
    assert page_weight < 300_000, sizes
    print(
        f"\npage weight before catalog photos: {page_weight / 1000:.1f} kB"
        f" in {len(sizes) - len(photos)} responses"
    )


RUNS = 5
PAINT_BUDGET_MS = 50.0
"""Three frames at 60 Hz: what the page may add over a fast API answer."""


def test_first_result_is_shown_within_1_5x_or_three_frames_of_the_apis_latency(
    page: Page, web_url: str, screenshot: Query
) -> None:
    """The page against the API on the same screenshot, with the result cache off.

    Each run pairs the time from picking the file to the frame that paints the first result
    with the server's own latency for that very request (``timings_ms.total``): other jobs on a
    shared machine slow the server from one request to the next, and a pairing cancels that.
    The same screenshot is also timed through the API by a plain client, alternating, and shown.
    """
    import httpx

    data = screenshot.path.read_bytes()
    open_search(page, web_url)
    client_ms: list[float] = []
    shown_ms: list[float] = []
    server_ms: list[float] = []  # the server's latency for each of the page's requests
    with httpx.Client(base_url=web_url) as client:
        for _ in range(RUNS):
            start = time.perf_counter()
            response = client.post(
                "/v1/search", files={"image": ("s.jpg", data, "image/jpeg")}, data={"k": "12"}
            )
            client_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
            page.evaluate("delete document.body.dataset.shownMs")
            upload(page, screenshot.path)
            page.wait_for_function("document.body.dataset.shownMs !== undefined")
            shown_ms.append(float(page.evaluate("document.body.dataset.shownMs")))
            server_ms.append(float(page.evaluate("document.body.dataset.serverMs")))
    ratios = [shown / server for shown, server in zip(shown_ms, server_ms, strict=True)]
    median = statistics.median
    print(
        f"\nfirst result shown in {median(shown_ms):.0f} ms, the API answering those requests in"
        f" {median(server_ms):.0f} ms: ratio {median(ratios):.2f} (median of {RUNS} pairs);"
        f" the API through an HTTP client {median(client_ms):.0f} ms (median of {RUNS})"
    )
    # What the page adds (upload, reading the answer, the grid, the frame that paints it) is about
    # fixed: a third of the API's time when it took 340 ms, half of it when a quiet machine
    # answers in 48 ms. So the bound is 1.5x the API's latency or three 60 Hz frames over it,
    # whichever is larger: a ratio alone flips with the frame timing once the API is that fast.
    added = [shown - server for shown, server in zip(shown_ms, server_ms, strict=True)]
    assert median(added) <= max(0.5 * median(server_ms), PAINT_BUDGET_MS), list(
        zip(shown_ms, server_ms, strict=True)
    )
    assert all(shown >= server for shown, server in zip(shown_ms, server_ms, strict=True))
