"""Turn pipeline values (SearchResult, CatalogItem) into response models, with public image links.

A catalog image stored as a local path is never shown to clients: the store already names this
server's image route instead (``lookalike.items.item_image_url``), made absolute here.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any
from urllib.parse import quote

from fastapi import Request

from api.schemas import (
    ExplanationOut,
    ItemOut,
    MatchOut,
    RegionOut,
    SafetyFindingOut,
    SafetyOut,
    SearchResponse,
)
from lookalike.items import REMOTE_SCHEMES, CatalogItem, item_image_url
from lookalike.types import SearchResult
from tenancy import CatalogRef


def public_image_url(
    request: Request, item: CatalogItem, ref: CatalogRef | None = None, base: str | None = None
) -> str | None:
    """Remote URLs as they are; our own image route made absolute (it honours a proxy's root path),
    naming the catalog as the caller does (``ref``), not by its storage name. ``base``: the
    request's base URL already worked out (``base_url_of``), for many items of one response."""
    if not item.image_url or item.image_url.startswith(REMOTE_SCHEMES):
        return item.image_url
    url = item.image_url
    if ref is not None and ref.storage != ref.name:
        stored = f"/v1/catalogs/{quote(ref.storage, safe='')}/"
        if url.startswith(stored):
            url = f"/v1/catalogs/{quote(ref.name, safe='')}/" + url[len(stored) :]
    return (base if base is not None else base_url_of(request)) + url


def base_url_of(request: Request) -> str:
    """The request's base URL without its trailing slash (Starlette builds it anew on every read)."""
    return str(request.base_url).rstrip("/")


ITEM_FIELDS = tuple(f.name for f in fields(CatalogItem))
MATCH_FIELDS = tuple(
    name for name in MatchOut.model_fields if name not in ("score", "signals", "explanation")
)


def _values(
    request: Request,
    item: CatalogItem,
    names: tuple[str, ...],
    ref: CatalogRef | None,
    base: str | None = None,
) -> dict[str, Any]:
    """The item's values under ``names``, with the image link made public."""
    values = {name: getattr(item, name) for name in names}
    values["image_url"] = public_image_url(request, item, ref, base)
    return values


def reference_image_url(request: Request, catalog: str, item_id: str, position: int, source: str) -> str:
    """A remote source as it is; a file on this server as its ``images/{position}`` route."""
    url = item_image_url(catalog, item_id, source, position)
    assert url is not None
    return url if url.startswith(REMOTE_SCHEMES) else str(request.base_url).rstrip("/") + url


def item_out(request: Request, ref: CatalogRef, item: CatalogItem) -> ItemOut:
    return ItemOut(catalog=ref.name, **_values(request, item, ITEM_FIELDS, ref))


def search_response(
    request: Request, result: SearchResult, timings_ms: dict[str, float], ref: CatalogRef | None = None
) -> SearchResponse:
    base = base_url_of(request)  # once per response, not once per match (25-30 of them)
    regions = [
        RegionOut(
            box=[round(v, 2) for v in r.region.box.as_list()],
            category=r.region.category,
            score=r.region.score,
            matches=[
                MatchOut(
                    score=m.score,
                    signals=list(m.signals),
                    explanation=ExplanationOut(**asdict(m.explanation)) if m.explanation else None,
                    **_values(request, m.item, MATCH_FIELDS, ref, base),
                )
                for m in r.matches
            ],
            text=r.text,
        )
        for r in result.regions
    ]
    return SearchResponse(
        catalog=ref.name if ref is not None else result.catalog,
        index_version=result.index_version,
        image_width=result.image_width,
        image_height=result.image_height,
        regions=regions,
        timings_ms={name: round(ms, 2) for name, ms in timings_ms.items()},
        text=result.text,
        query_text=result.query_text,
        safety=SafetyOut(
            action="flag" if result.safety == "flag" else "allow",
            findings=[SafetyFindingOut(**asdict(f)) for f in result.safety_findings],
        )
        if result.safety is not None
        else None,
    )


__all__ = ["item_out", "public_image_url", "reference_image_url", "search_response"]
