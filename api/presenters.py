"""Turn pipeline values (SearchResult, CatalogItem) into response models, with public image links.

A catalog image stored as a local path is never shown to clients: the store already names this
server's image route instead (``lookalike.items.item_image_url``), made absolute here.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fastapi import Request

from api.schemas import ItemOut, MatchOut, RegionOut, SearchResponse
from lookalike.items import REMOTE_SCHEMES, CatalogItem, item_image_url
from lookalike.types import SearchResult


def public_image_url(request: Request, item: CatalogItem) -> str | None:
    """Remote URLs as they are; our own image route made absolute (it honours a proxy's root path)."""
    if not item.image_url or item.image_url.startswith(REMOTE_SCHEMES):
        return item.image_url
    return str(request.base_url).rstrip("/") + item.image_url


ITEM_FIELDS = tuple(f.name for f in fields(CatalogItem))
MATCH_FIELDS = tuple(name for name in MatchOut.model_fields if name != "score")


def _values(request: Request, item: CatalogItem, names: tuple[str, ...]) -> dict[str, Any]:
    """The item's values under ``names``, with the image link made public."""
    values = {name: getattr(item, name) for name in names}
    values["image_url"] = public_image_url(request, item)
    return values


def reference_image_url(request: Request, catalog: str, item_id: str, position: int, source: str) -> str:
    """A remote source as it is; a file on this server as its ``images/{position}`` route."""
    url = item_image_url(catalog, item_id, source, position)
    assert url is not None
    return url if url.startswith(REMOTE_SCHEMES) else str(request.base_url).rstrip("/") + url


def item_out(request: Request, catalog: str, item: CatalogItem) -> ItemOut:
    return ItemOut(catalog=catalog, **_values(request, item, ITEM_FIELDS))


def search_response(request: Request, result: SearchResult, timings_ms: dict[str, float]) -> SearchResponse:
    regions = [
        RegionOut(
            box=[round(v, 2) for v in r.region.box.as_list()],
            category=r.region.category,
            score=r.region.score,
            matches=[MatchOut(score=m.score, **_values(request, m.item, MATCH_FIELDS)) for m in r.matches],
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


__all__ = ["item_out", "public_image_url", "reference_image_url", "search_response"]
