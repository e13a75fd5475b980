"""POST /v1/search: a screenshot in (upload, base64 or URL), matches per detected region out."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from anyio import to_thread
from fastapi import APIRouter, Request, Response

from api.auth import SearchCaller, TenancyDep, remember
from api.deps import HttpClientDep, RuntimeDep, SettingsDep, WarmupDep, tenant_label
from api.fetch import fetch_image
from api.inputs import SearchInput, parse_search_request
from api.presenters import search_response
from api.problems import UrlFetchDisabledError, documented_problem, status_of
from api.readiness import Warmup
from api.schemas import SearchJson, SearchResponse
from lookalike.errors import UnsafeImageError
from lookalike.settings import ApiSettings, SafetyRule, Settings
from lookalike.types import Box, SearchResult
from service.runtime import Runtime
from service.search import MAX_K, REGION_MODES, SearchRequest
from tenancy import Caller, CatalogRef, Tenancy

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["search"])


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def run_search(
    runtime: Runtime,
    warmup: Warmup,
    data: bytes | None,
    parsed: SearchInput,
    api: ApiSettings,
    ref: CatalogRef,
    safety: tuple[SafetyRule, ...] | None = None,
) -> SearchResult:
    """Decode and search in a worker thread: both are CPU-bound and must stay off the event loop."""
    p = parsed.params
    request = SearchRequest(
        catalog=ref.storage,
        k=p.k,
        box=Box(*p.box) if p.box is not None else None,
        categories=frozenset(p.categories) if p.categories else None,
        min_score=p.min_score,
        brands=frozenset(p.brand) if p.brand else None,
        price_min=p.price_min,
        price_max=p.price_max,
        in_stock=p.in_stock,
        attributes=tuple(sorted((p.attributes or {}).items())),
        regions=p.regions,
        q=p.q,
        ocr=p.ocr,
        safety=safety,
        explain=p.explain,
    )
    if data is None:
        return runtime.search.search_text(request)
    warmup.wait_for_models()
    return runtime.search.search_bytes(
        data,
        request,
        max_bytes=api.max_upload_bytes,
        max_pixels=api.max_pixels,
        source=parsed.source,
        max_aspect_ratio=api.max_aspect_ratio,
        budget_s=api.search_budget_s,
    )


_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("catalog", {"type": "string"}, "Catalog to search (default: the server's api.default_catalog)."),
    ("k", {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}, "Matches per region."),
    ("box", {"type": "string", "example": "120,300,900,1400"}, "Tap-to-search box x1,y1,x2,y2 (pixels)."),
    (
        "regions",
        {"type": "string", "enum": list(REGION_MODES), "default": "auto"},
        "auto: every detected product; none: the whole image; all: both.",
    ),
    ("categories", {"type": "string", "example": "Shirt,Dress"}, "Only these catalog categories."),
    ("min_score", {"type": "number", "minimum": -1, "maximum": 1}, "Drop matches scoring below this."),
    (
        "q",
        {"type": "string", "maxLength": 500, "example": "zara linen shirt"},
        "Words: alone, a text search of the catalog; with an image, they re-rank its matches.",
    ),
    (
        "ocr",
        {"type": "string", "enum": ["off", "auto", "always"]},
        "Read the image's text to re-rank its matches (default: the server's understanding.ocr).",
    ),
    (
        "explain",
        {"type": "boolean", "default": False},
        "Explain each region's best match with an occlusion heatmap of the query crop (grid + PNG).",
    ),
]
_FILTER_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("brand", {"type": "string", "example": "Acme,Globex"}, "Only these brands (case-insensitive)."),
    ("price_min", {"type": "number", "minimum": 0}, "Only items priced at least this."),
    ("price_max", {"type": "number", "minimum": 0}, "Only items priced at most this."),
    ("in_stock", {"type": "boolean"}, "true: only items known to be in stock; false: drop those."),
    (
        "attributes",
        {"type": "string", "example": '{"color": "red"}'},
        "Attribute equality as a JSON object; or one `attr.<name>=value` field per attribute.",
    ),
]
_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "The screenshot or photo."},
        **{name: {**schema, "description": text} for name, schema, text in _PARAMS + _FILTER_PARAMS},
    },
}
SEARCH_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": text + " Body wins.",
        }
        for name, schema, text in _PARAMS + _FILTER_PARAMS
    ],
    "requestBody": {
        "required": True,
        "description": (
            "Three forms: a multipart upload (file field `image`), JSON with `image_base64`, or JSON with "
            "`image_url` (fetched by the server). Raw `image/*` bytes are accepted too, with parameters "
            "in the query string. The filters (`brand`, `price_min`, `price_max`, `in_stock`, "
            "`attributes` or `attr.<name>=value`) work in every form and in the query string."
        ),
        "content": {
            "multipart/form-data": {
                "schema": _FORM_SCHEMA,
                "encoding": {"image": {"contentType": "image/jpeg, image/png, image/webp, image/gif"}},
                "examples": {
                    "upload": {
                        "summary": "Upload a screenshot",
                        "value": {"image": "(binary JPEG)", "catalog": "demo", "k": 5},
                    },
                    "tap_to_search": {
                        "summary": "Search one tapped box only",
                        "value": {"image": "(binary JPEG)", "box": "120,300,900,1400", "k": 5},
                    },
                },
            },
            "application/json": {
                "schema": SearchJson.model_json_schema(ref_template="#/components/schemas/{model}"),
                "examples": {
                    "base64": {
                        "summary": "Image bytes as base64",
                        "value": {
                            "image_base64": "/9j/4AAQSkZJRgABAQAAAQABAAD...",
                            "k": 5,
                            "categories": ["Shirt"],
                        },
                    },
                    "url": {
                        "summary": "Image fetched from a URL",
                        "value": {
                            "image_url": "https://example.com/screenshot.jpg",
                            "k": 5,
                            "min_score": 0.3,
                        },
                    },
                },
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    },
}


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Find catalog items that look like the products in an image",
    openapi_extra=SEARCH_OPENAPI,
    responses={
        400: documented_problem("Malformed body (broken JSON or multipart)"),
        401: documented_problem("No API key, or an unknown, expired or revoked one"),
        403: documented_problem(
            "Image URL fetching is disabled on this server, or the key lacks the search scope"
        ),
        404: documented_problem("Unknown catalog"),
        413: documented_problem("Upload over the byte or pixel limit"),
        415: documented_problem("Not an image, or a Content-Type the endpoint does not take"),
        422: documented_problem(
            "Invalid parameter (k, box, filters, min_score, base64), unfetchable URL, or an upload "
            "the safety policy refuses (type urn:lookalike:problem:unsafe-image, with its findings)"
        ),
        429: documented_problem("Over the plan's rate or monthly search allowance (Retry-After says when)"),
        503: documented_problem(
            "Models not loaded, or the catalog's index still loading after residency.load_timeout_s "
            "(Retry-After says when to come back)"
        ),
    },
)
async def search(
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    warmup: WarmupDep,
    http: HttpClientDep,
    caller: SearchCaller,
    tenancy: TenancyDep,
) -> Response:
    tenant = tenant_label(request)
    try:
        with runtime.admission:  # over api.max_in_flight: 429 before reading the body
            return await _search(request, runtime, settings, warmup, http, tenant, caller, tenancy)
    except Exception as exc:
        runtime.search_metrics.failed(tenant, status_of(exc))
        if isinstance(exc, UnsafeImageError):
            runtime.search_metrics.screened(tenant, "refuse")
        raise


def admit_search(request: Request, tenancy: Tenancy, caller: Caller, name: str) -> CatalogRef:
    """The caller's catalog (else 404, as if it did not exist), then one search of its allowance."""
    ref = remember(request, tenancy.catalog(caller, name))
    tenancy.reserve_search(caller)
    return ref


async def _search(
    request: Request,
    runtime: Runtime,
    settings: Settings,
    warmup: Warmup,
    http: httpx.AsyncClient,
    tenant: str,
    caller: Caller,
    tenancy: Tenancy,
) -> Response:
    start = time.perf_counter()
    api = settings.api
    parsed = await parse_search_request(request, api.max_upload_bytes)
    name = parsed.params.catalog or api.default_catalog
    if tenancy.enabled:
        ref = await to_thread.run_sync(admit_search, request, tenancy, caller, name)
    else:
        ref = CatalogRef(name, name)
    timings = {"read": _ms(start)}
    data = parsed.image
    if parsed.image_url is not None:
        if not api.allow_url_fetch:
            raise UrlFetchDisabledError(
                "this server does not fetch image URLs; upload the image or send it as base64"
            )
        fetch_start = time.perf_counter()
        data = await fetch_image(
            http, parsed.image_url, max_bytes=api.max_upload_bytes, timeout_s=api.fetch_timeout_s
        )
        timings["fetch"] = _ms(fetch_start)
    limiter = request.app.state.search_limiter  # searches computing at once (ApiSettings.search_threads)
    safety = tuple(settings.safety.policy_for(getattr(request.state, "tenant_id", None)))
    result = await to_thread.run_sync(
        run_search, runtime, warmup, data, parsed, api, ref, safety, limiter=limiter
    )
    if result.safety is not None:
        runtime.search_metrics.screened(tenant, result.safety)
    timings.update(result.timings_ms)
    timings["total"] = _ms(start)
    runtime.search_metrics.observe(tenant, timings)
    log.info(
        "search catalog=%s version=%s regions=%d size=%dx%d ms=%.1f",
        result.catalog,
        result.index_version,
        len(result.regions),
        result.image_width,
        result.image_height,
        timings["total"],
    )
    # Already a validated SearchResponse: hand FastAPI the JSON bytes so it does not validate
    # and serialise the whole model a second time (response_model still documents it).
    body = search_response(request, result, timings, ref).model_dump_json()
    return Response(content=body, media_type="application/json")
