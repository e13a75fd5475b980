"""A catalog item's fields are declared once (``lookalike.items``); every schema is made from it."""

from __future__ import annotations

from dataclasses import fields

from api.schemas import ItemOut, MatchOut
from catalog.models import Item
from lookalike.items import METADATA_FIELDS, CatalogItem, ItemRecord, item_image_url


def test_the_table_the_api_and_the_search_result_carry_the_declared_fields() -> None:
    declared = [f.name for f in fields(ItemRecord)]
    assert set(Item.__table__.columns.keys()) == {"id", "catalog_id", *declared}
    assert [f.name for f in fields(CatalogItem)] == [*declared, "image_url"]
    assert set(ItemOut.model_fields) == {"catalog", *declared, "image_url"}
    assert set(MatchOut.model_fields) == {"score", "signals", "explanation", *declared, "image_url"} - {
        "attributes"
    }
    assert METADATA_FIELDS == ("title", "brand", "category", "price", "currency", "url")


def test_the_image_link_is_the_remote_url_or_this_servers_route_never_a_local_path() -> None:
    assert item_image_url("shop", "a b/c?", "/srv/photos/x.jpg") == "/v1/catalogs/shop/items/a%20b/c%3F/image"
    assert item_image_url("shop", "x", "https://cdn.example/x.jpg") == "https://cdn.example/x.jpg"
    assert item_image_url("shop", "x", None) is None
