"""Read-only browsing of a catalog: items a page at a time, an item's reference images, facets.

These serve people looking at a catalog (the web page, a merchandiser's script), not search,
so they favour plain queries over the prebuilt statements the search path uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from catalog.models import Image, Item, ItemImage
from catalog.store import ITEMS_BY_ID, CatalogStore, _to_item
from lookalike.items import CatalogItem


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of a catalog's items in load order, and how many match in all."""

    total: int
    items: list[CatalogItem]


@dataclass(frozen=True, slots=True)
class ReferenceImage:
    """One of an item's images; ``position`` 0 is the primary one."""

    position: int
    source: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ValueCount:
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class Facets:
    """What a filter form can offer: categories and brands with item counts, the price range."""

    categories: list[ValueCount]
    brands: list[ValueCount]
    price_min: float | None
    price_max: float | None


def list_items(
    store: CatalogStore, catalog: str, *, offset: int, limit: int, category: str | None = None
) -> ItemPage:
    """Items ``offset`` to ``offset + limit`` in the order they were loaded (stable across pages)."""
    with store.engine.connect() as conn:
        cid = store._catalog_id(conn, catalog)
        where = [Item.catalog_id == cid]
        if category is not None:
            where.append(Item.category == category)
        total = conn.scalar(select(func.count(Item.id)).where(*where)) or 0
        ids = list(
            conn.scalars(select(Item.item_id).where(*where).order_by(Item.id).offset(offset).limit(limit))
        )
        rows = conn.execute(ITEMS_BY_ID, {"catalog": catalog, "ids": ids}).all() if ids else []
    by_id = {row.item_id: _to_item(catalog, row) for row in rows}
    return ItemPage(total=total, items=[by_id[i] for i in ids if i in by_id])


def reference_images(store: CatalogStore, catalog: str, item_id: str) -> list[ReferenceImage]:
    """Every image linked to the item, primary first; raises for an unknown catalog or item."""
    stmt = (
        select(ItemImage.position, Image.source, Image.width, Image.height)
        .join(Image, Image.id == ItemImage.image_id)
        .join(Item, Item.id == ItemImage.item_id)
        .where(Item.item_id == item_id)
        .order_by(ItemImage.position)
    )
    with store.engine.connect() as conn:
        cid = store._catalog_id(conn, catalog)
        rows = conn.execute(stmt.where(Item.catalog_id == cid)).all()
    if not rows:
        store.get_item(catalog, item_id)  # raises for an unknown item; a known one has no image
    return [ReferenceImage(position=r[0], source=r[1], width=r[2], height=r[3]) for r in rows]


def facets(store: CatalogStore, catalog: str, *, limit: int = 500) -> Facets:
    """Category and brand counts (most common first, at most ``limit`` each) and the price range."""
    with store.engine.connect() as conn:
        cid = store._catalog_id(conn, catalog)

        def counts(column: InstrumentedAttribute[str | None]) -> list[ValueCount]:
            count = func.count(Item.id)
            stmt = (
                select(column, count)
                .where(Item.catalog_id == cid, column.is_not(None))
                .group_by(column)
                .order_by(count.desc(), column)
                .limit(limit)
            )
            return [ValueCount(value=str(v), count=int(n)) for v, n in conn.execute(stmt)]

        low, high = conn.execute(
            select(func.min(Item.price), func.max(Item.price)).where(Item.catalog_id == cid)
        ).one()
        return Facets(
            categories=counts(Item.category), brands=counts(Item.brand), price_min=low, price_max=high
        )


__all__ = ["Facets", "ItemPage", "ReferenceImage", "ValueCount", "facets", "list_items", "reference_images"]
