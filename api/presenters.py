"""Turn pipeline values (SearchResult, CatalogItem) into response models, with public image links.

A catalog image stored as a local path is never shown to clients: they get this server's
item image URL instead, which serves the file.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request

from api.schemas import ItemOut, MatchOut, RegionOut, SearchResponse
from lookalike.types import CatalogItem, SearchResult

REMOTE_SCHEMES = ("http://", "https://")


def item_image_path(catalog: str, item_id: str) -> str:
    return f"/v1/catalogs/{quote(catalog, safe='')}/items/{quote(item_id, safe='/')}/image"


def public_image_url(request: Request, catalog: str, item: CatalogItem) -> str | None:
    """Remote URLs as they are; our own image route made absolute (it honours a proxy's root path)."""
    if not item.image_url:
        return None
    if item.image_url.startswith(REMOTE_SCHEMES):
        return item.image_url
    path = item.image_url if item.image_url.startswith("/v1/") else item_image_path(catalog, item.item_id)
    return str(request.base_url).rstrip("/") + path


def reference_image_url(request: Request, catalog: str, item_id: str, position: int, source: str) -> str:
    """A remote source as it is; a file on this server as its ``images/{position}`` route."""
    if source.startswith(REMOTE_SCHEMES):
        return source
    path = item_image_path(catalog, item_id).removesuffix("/image") + f"/images/{position}"
    return str(request.base_url).rstrip("/") + path


def item_out(request: Request, catalog: str, item: CatalogItem) -> ItemOut:
    return ItemOut(
        catalog=catalog,
        item_id=item.item_id,
        title=item.title,
        brand=item.brand,
        category=item.category,
        price=item.price,
        currency=item.currency,
        url=item.url,
        image_url=public_image_url(request, catalog, item),
        attributes=item.attributes,
    )


def search_response(request: Request, result: SearchResult, timings_ms: dict[str, float]) -> SearchResponse:
    regions = [
        RegionOut(
            box=[round(v, 2) for v in r.region.box.as_list()],
            category=r.region.category,
            score=r.region.score,
            matches=[
                MatchOut(
                    item_id=m.item.item_id,
                    score=m.score,
                    title=m.item.title,
                    brand=m.item.brand,
                    category=m.item.category,
                    price=m.item.price,
                    currency=m.item.currency,
                    image_url=public_image_url(request, result.catalog, m.item),
                    url=m.item.url,
                )
                for m in r.matches
            ],
        )
        for r in result.regions
    ]
    return SearchResponse(
        catalog=result.catalog,
        index_version=result.index_version,
        image_width=result.image_width,
        image_height=result.image_height,
        regions=regions,
        timings_ms={name: round(ms, 2) for name, ms in timings_ms.items()},
    )


__all__ = ["item_image_path", "item_out", "public_image_url", "reference_image_url", "search_response"]
