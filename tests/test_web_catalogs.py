"""The catalog browser in a real browser: catalogs, a catalog's pages, an item and "more like this"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from service.runtime import Runtime
    from tests.api_fixtures import ShopCatalog
    from tests.web_fixtures import PageErrors

pytest_plugins = ["tests.api_fixtures", "tests.web_fixtures"]
pytestmark = pytest.mark.browser


def photos_loaded(page: Page, selector: str) -> bool:
    """Every image under ``selector`` arrived and decoded (a broken link has no natural width)."""
    script = f"[...document.querySelectorAll({selector!r})].every((i) => i.complete && i.naturalWidth > 0)"
    return bool(page.evaluate(script))


def test_browse_from_the_catalog_list_to_an_item_and_search_more_like_it(
    page: Page, web_url: str, shop_catalog: ShopCatalog, web_runtime: Runtime
) -> None:
    page.goto(f"{web_url}/ui/catalogs")
    page.wait_for_selector("body[data-ready]")
    row = page.locator("tr[data-catalog='shop']")
    assert row.locator("td").nth(0).inner_text() == "30"
    assert row.locator("code").inner_text() == web_runtime.index_store.current_version("shop")

    row.locator("a").click()
    page.wait_for_selector("body[data-ready]")
    assert "30 items · page 1 of 2" in page.locator("#summary").inner_text()
    cards = page.locator("#items li.card")
    assert cards.count() == 24
    page.wait_for_function("[...document.querySelectorAll('#items img')].every((img) => img.complete)")
    assert photos_loaded(page, "#items img")
    page.click("a[rel=next]")
    page.wait_for_selector("body[data-ready]")
    assert page.url.endswith("/ui/catalogs/shop?page=2")
    ids = [c.get_attribute("data-item-id") for c in cards.all()]
    assert ids == [p.stem for p in shop_catalog.photos[24:]]

    item_id = ids[2]
    assert item_id is not None
    cards.nth(2).locator("h3 a").click()
    page.wait_for_selector("body[data-ready]")
    assert page.locator("#title").inner_text().endswith(item_id[:6])
    facts = page.locator("#facts").inner_text()
    assert shop_catalog.labels[item_id] in facts and "Seller " in facts
    gallery = page.locator("#images img")
    assert gallery.count() == 1 and "reference image 1 of 1" in str(gallery.get_attribute("alt"))
    page.wait_for_function("document.querySelector('#images img').complete")
    assert photos_loaded(page, "#images img")

    page.click("#more")
    page.wait_for_function("Number(document.body.dataset.searches || 0) > 0")
    assert page.locator("#catalog").input_value() == "shop"
    assert page.locator("#results li.card").first.get_attribute("data-item-id") == item_id


def test_a_catalog_page_filters_by_category(page: Page, web_url: str, shop_catalog: ShopCatalog) -> None:
    category = shop_catalog.labels[shop_catalog.item_id(0)]
    page.goto(f"{web_url}/ui/catalogs/shop")
    page.wait_for_selector("body[data-ready]")
    with page.expect_navigation():
        page.select_option("#category", category)
    page.wait_for_selector("body[data-ready]")
    shown = [c.get_attribute("data-item-id") for c in page.locator("#items li.card").all()]
    assert shown == [p.stem for p in shop_catalog.photos if shop_catalog.labels[p.stem] == category]
    assert f"in {category}" in page.locator("#summary").inner_text()


def test_an_unknown_catalog_says_so(page: Page, page_errors: PageErrors, web_url: str) -> None:
    page_errors.allow("404 (Not Found)")
    page.goto(f"{web_url}/ui/catalogs/nope")
    page.wait_for_selector("#error:not([hidden])")
    assert "catalog 'nope' does not exist" in page.locator("#error").inner_text()
