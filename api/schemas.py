"""The HTTP contract: request parameters and response bodies, with the examples the OpenAPI page shows."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from lookalike.items import CatalogItem
from service.search import MAX_K, RegionMode

CATALOG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
"""The names `lookalike ingest` accepts: one safe path segment (it names a folder of index versions)."""

CatalogName = Annotated[str, Field(min_length=1, max_length=100, pattern=CATALOG_PATTERN, examples=["demo"])]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _split_list(value: Any) -> Any:
    """Form fields and query strings carry lists as "a,b,c" (or a JSON list in a string)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not a JSON list: {exc}") from exc
        return [part.strip() for part in text.split(",")] if text else []
    return value


DB_INT_MAX = 2**31 - 1
"""The largest count or offset a 32-bit INTEGER holds (PostgreSQL's): a larger one is a 422, not a 500."""


class SearchParams(BaseModel):
    """Search parameters; the same names work as form fields, JSON fields or query parameters."""

    model_config = ConfigDict(extra="forbid")

    catalog: CatalogName | None = Field(
        default=None, description="Catalog to search; the server's `api.default_catalog` when left out."
    )
    k: int = Field(default=10, ge=1, le=MAX_K, description="Matches per region.")
    box: Annotated[list[FiniteFloat], Field(min_length=4, max_length=4)] | None = Field(
        default=None,
        description=(
            "Tap-to-search: search only this box, in pixels of the upright image, "
            'as "x1,y1,x2,y2" or a JSON list of 4 numbers. Detection is skipped.'
        ),
        examples=[[120, 300, 900, 1400]],
    )
    regions: RegionMode = Field(
        default="auto",
        description=(
            "What to search: `auto` every product the detector finds (the whole image when it finds "
            "none), `none` the whole image only, `all` both. A `box` (tap-to-search) goes alone."
        ),
    )
    categories: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None,
        description='Only return items of these categories: "Shirt,Dress" or a JSON list.',
        examples=[["Shirt", "T-Shirt"]],
    )
    min_score: FiniteFloat | None = Field(
        default=None, ge=-1.0, le=1.0, description="Drop matches with a cosine similarity below this."
    )
    brand: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None,
        description='Only items of these brands (case-insensitive): "Acme,Globex" or a JSON list.',
        examples=[["Seller 124"]],
    )
    price_min: FiniteFloat | None = Field(default=None, ge=0, description="Only items priced at least this.")
    price_max: FiniteFloat | None = Field(default=None, ge=0, description="Only items priced at most this.")
    in_stock: bool | None = Field(
        default=None,
        description="true: only items whose `in_stock` attribute says so; false: drop those (unknown stays).",
    )
    attributes: dict[str, str | int | float | bool] | None = Field(
        default=None,
        description=(
            'Attribute equality, all must hold: a JSON object {"color": "red"}, or form/query fields '
            "`attr.color=red`. Text is compared case-insensitively."
        ),
        examples=[{"kids": False}],
    )

    q: str | None = Field(
        default=None,
        max_length=500,
        description=(
            "Words (a brand, a product name): alone, a text search of titles, brands, categories and "
            "attributes; with an image, they re-rank its visual matches (hybrid ranking)."
        ),
        examples=["zara linen shirt"],
    )
    ocr: Literal["off", "auto", "always"] | None = Field(
        default=None,
        description=(
            "Read the screenshot's text and let it re-rank the matches: `always`, `auto` (when a "
            "quick check finds text), `off`. Default: the server's `understanding.ocr`."
        ),
    )

    explain: bool = Field(
        default=False,
        description=(
            "Explain each region's best match (`explain.max_matches`): an occlusion heatmap of the "
            "query crop, as a grid of numbers and a PNG (costs one batch of grid x grid crops through "
            "the embedder per match; cached by image and item)."
        ),
    )

    @field_validator("box", mode="before")
    @classmethod
    def _parse_box(cls, value: Any) -> Any:
        parsed = _split_list(value)
        if isinstance(parsed, list) and len(parsed) != 4:
            raise ValueError(f'box must be 4 numbers "x1,y1,x2,y2", got {len(parsed)} value(s)')
        return parsed

    @field_validator("brand", mode="before")
    @classmethod
    def _parse_brand(cls, value: Any) -> Any:
        return cls._parse_categories(value)

    @field_validator("attributes", mode="before")
    @classmethod
    def _parse_attributes(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else None
            except ValueError as exc:
                raise ValueError(f"not a JSON object: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _price_range(self) -> SearchParams:
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min {self.price_min} is above price_max {self.price_max}")
        return self

    @field_validator("categories", mode="before")
    @classmethod
    def _parse_categories(cls, value: Any) -> Any:
        parsed = _split_list(value)
        if isinstance(parsed, list):
            parsed = [c.strip() if isinstance(c, str) else c for c in parsed]
            parsed = [c for c in parsed if c != ""]
            return parsed or None
        return parsed


def _one_image_schema() -> dict[str, Any]:
    """ "Exactly one of image_base64 / image_url, or q alone" in the document, not only in
    ``_one_image``: clients and fuzzers see the rule (a missing or null field is no image)."""
    text, none, words = {"type": "string"}, {"type": "null"}, {"type": "string", "minLength": 1}
    return {
        "oneOf": [
            {"required": ["image_base64"], "properties": {"image_base64": text, "image_url": none}},
            {"required": ["image_url"], "properties": {"image_url": text, "image_base64": none}},
            {
                "required": ["q"],
                "properties": {"q": words, "image_base64": none, "image_url": none},
            },
        ]
    }


class SearchJson(SearchParams):
    """JSON body of POST /v1/search: the image as base64 or as a URL the server fetches."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_image_schema())

    image_base64: str | None = Field(
        default=None, description="Image bytes, base64 (a `data:image/...;base64,` prefix is accepted)."
    )
    image_url: str | None = Field(default=None, max_length=4096, description="An http(s) URL of the image.")

    @model_validator(mode="after")
    def _one_image(self) -> SearchJson:
        if self.image_base64 is not None and self.image_url is not None:
            raise ValueError("give exactly one of image_base64 or image_url")
        if self.image_base64 is None and self.image_url is None and not self.q:
            raise ValueError("give exactly one of image_base64 or image_url (or q, to search by words alone)")
        return self


def item_fields(*, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The catalog item's fields as pydantic field definitions, from their one declaration
    (``lookalike.items.CatalogItem``: types, defaults and descriptions)."""
    hints = get_type_hints(CatalogItem)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(CatalogItem):
        if f.name in exclude:
            continue
        description = f.metadata.get("description")
        if f.default_factory is not dataclasses.MISSING:
            info = Field(default_factory=f.default_factory, description=description)
        else:
            default = ... if f.default is dataclasses.MISSING else f.default
            info = Field(default, description=description)
        out[f.name] = (hints[f.name], info)
    return out


_ITEM_ID, *_ITEM_REST = item_fields(exclude=frozenset({"attributes"})).items()
_MatchFields = create_model(
    "MatchFields",
    **dict([_ITEM_ID]),
    score=(
        float,
        Field(
            description=(
                "Cosine similarity to the query region, -1..1; plus text_weight x the relative text "
                "relevance where the words matched too (signals holds text); a text-only search: "
                "the text relevance."
            )
        ),
    ),
    signals=(
        list[str],
        Field(
            default_factory=lambda: ["visual"],
            description='Which rankings found the item: "visual" (the crop), "text" (words read or asked).',
        ),
    ),
    **dict(_ITEM_REST),
)
_ItemFields = create_model("ItemFields", catalog=(str, ...), **item_fields())


class ExplanationOut(BaseModel):
    """Why the query crop matched this item: the cosine lost when each cell of the crop is hidden."""

    grid: list[list[float]] = Field(
        description=(
            "Rows top to bottom, cells left to right over the query crop: the cosine similarity lost "
            "with a grey square hiding that cell (> 0: that part drove the match)."
        )
    )
    score: float = Field(description="Cosine of the whole crop to the item's nearest catalog vector.")
    png_base64: str = Field(description="The heatmap blended over the crop, a base64 PNG (bright: mattered).")
    width: int = Field(description="Width of the PNG in pixels.")
    height: int = Field(description="Height of the PNG in pixels.")


class MatchOut(_MatchFields):  # type: ignore[misc,valid-type]
    """One matched catalog item: its fields (all but the attributes) and its score."""

    explanation: ExplanationOut | None = Field(
        default=None, description="With explain=true, for each region's best match: why it matched."
    )


class RegionOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels of the upright image.")
    category: str | None = Field(default=None, description="The detector's category, if it names one.")
    score: float = Field(description="Detector confidence (1.0 for a box the caller gave).")
    matches: list[MatchOut]
    text: list[str] = Field(
        default_factory=list, description="Text lines read inside, under or beside this region (OCR)."
    )


SEARCH_EXAMPLE: dict[str, Any] = {
    "catalog": "demo",
    "index_version": "v20240501T101500123456Z-3f2a9c1e",
    "image_width": 1080,
    "image_height": 2340,
    "regions": [
        {
            "box": [64.0, 410.0, 1016.0, 1530.0],
            "category": None,
            "score": 0.91,
            "matches": [
                {
                    "item_id": "ea7b6656",
                    "score": 0.83,
                    "title": "T-Shirt ea7b6656",
                    "brand": "Seller 148",
                    "category": "T-Shirt",
                    "price": 19.99,
                    "currency": "EUR",
                    "image_url": "http://127.0.0.1:8000/v1/catalogs/demo/items/ea7b6656/image",
                    "url": None,
                }
            ],
        }
    ],
    "timings_ms": {
        "read": 1.2,
        "decode": 14.0,
        "detect": 35.1,
        "embed": 48.7,
        "search": 0.6,
        "metadata": 1.9,
    },
}


class SafetyFindingOut(BaseModel):
    label: str = Field(description="The NudeNet class found (e.g. BUTTOCKS_EXPOSED).")
    score: float = Field(description="The model's confidence, 0..1.")
    action: str = Field(description="What the policy rule that fired does: flag or refuse.")


class SafetyOut(BaseModel):
    """The upload safety gate's verdict (docs/UNDERSTANDING.md); refusals answer 422 instead."""

    action: Literal["allow", "flag"] = Field(
        description="allow: nothing found that the policy acts on; flag: answered, but flagged for review."
    )
    findings: list[SafetyFindingOut] = Field(default_factory=list)


class SearchResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [SEARCH_EXAMPLE]})

    catalog: str
    index_version: str = Field(description="The index version that answered (changes on each ingest).")
    image_width: int = Field(description="Width of the upright (EXIF-rotated) image.")
    image_height: int
    regions: list[RegionOut]
    timings_ms: dict[str, float] = Field(description="Milliseconds per stage: read, fetch, decode, detect...")
    text: list[str] = Field(
        default_factory=list, description="Every text line read in the image (OCR), in reading order."
    )
    query_text: str | None = Field(
        default=None, description="The words searched for: q= and the words read, cleaned up."
    )
    safety: SafetyOut | None = Field(
        default=None, description="The safety gate's verdict on the upload; null: not screened."
    )


class CatalogOut(BaseModel):
    name: str
    item_count: int
    image_count: int
    region_count: int
    created_at: datetime
    index_version: str | None = Field(description="The live index version; null before the first ingest.")


class CatalogList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "catalogs": [
                        {
                            "name": "demo",
                            "item_count": 5403,
                            "image_count": 5403,
                            "region_count": 5403,
                            "created_at": "2024-05-01T10:15:00Z",
                            "index_version": "v20240501T101500123456Z-3f2a9c1e",
                        }
                    ]
                }
            ]
        }
    )

    catalogs: list[CatalogOut]


class ItemOut(_ItemFields):  # type: ignore[misc,valid-type]
    """One catalog item with all its fields."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "catalog": "demo",
                    "item_id": "ea7b6656",
                    "title": "T-Shirt ea7b6656",
                    "brand": "Seller 148",
                    "category": "T-Shirt",
                    "price": 19.99,
                    "currency": "EUR",
                    "url": None,
                    "attributes": {"kids": "False"},
                    "image_url": "http://127.0.0.1:8000/v1/catalogs/demo/items/ea7b6656/image",
                }
            ]
        }
    )


ITEM_EXAMPLE: dict[str, Any] = ItemOut.model_json_schema()["examples"][0]


class ItemPage(BaseModel):
    """A page of a catalog's items, in the order they were loaded."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"catalog": "demo", "total": 5403, "offset": 0, "limit": 1, "items": [ITEM_EXAMPLE]}]
        }
    )

    catalog: str
    total: int = Field(description="Items matching in all (for page counts).")
    offset: int
    limit: int
    items: list[ItemOut]


class ReferenceImageOut(BaseModel):
    position: int = Field(description="0 is the item's primary image.")
    url: str = Field(description="Where to get it: this server's image route, or the remote URL.")
    width: int
    height: int


class ItemImages(BaseModel):
    """Every reference image of an item (each was embedded into the index)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "catalog": "demo",
                    "item_id": "ea7b6656",
                    "images": [
                        {
                            "position": 0,
                            "url": "http://127.0.0.1:8000/v1/catalogs/demo/items/ea7b6656/images/0",
                            "width": 320,
                            "height": 240,
                        }
                    ],
                }
            ]
        }
    )

    catalog: str
    item_id: str
    images: list[ReferenceImageOut]


class ValueCountOut(BaseModel):
    value: str
    count: int = Field(description="Items with this value.")


class CatalogFacets(BaseModel):
    """What a filter form can offer for a catalog: categories and brands by item count, the price range."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "catalog": "demo",
                    "categories": [{"value": "T-Shirt", "count": 1011}, {"value": "Pants", "count": 692}],
                    "brands": [{"value": "Seller 148", "count": 31}],
                    "price_min": 9.99,
                    "price_max": 149.99,
                }
            ]
        }
    )

    catalog: str
    categories: list[ValueCountOut] = Field(description="Most common first.")
    brands: list[ValueCountOut] = Field(description="Most common first (at most 500).")
    price_min: float | None = None
    price_max: float | None = None


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "not ready",
                    "checks": {
                        "database": "ok",
                        "detector": "ok",
                        "embedder": "loading",
                        "catalog:demo": "waiting",
                    },
                    "missing": ["embedder: loading", "catalog:demo: waiting"],
                    "runtimes": {
                        "detector": "openvino int8 (measured fastest, 2.85x onnxruntime fp32; ...)",
                    },
                }
            ]
        }
    )

    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description='Each component: "ok", "loading" or why it is not usable.')
    missing: list[str] = Field(default_factory=list)
    runtimes: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Engine and precision each loaded model runs in, and why: with precision 'auto' the "
            "candidates' measured times on this CPU (docs/PRECISION.md)."
        ),
    )


class JobOut(BaseModel):
    """A background job (docs/JOBS.md). ``rejects`` holds the first rows of the rejects report."""

    id: str
    kind: str = Field(examples=["ingest"])
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float | None = Field(description="Share done in [0, 1]; null while the total is unknown.")
    progress_done: int
    progress_total: int | None
    params: dict[str, Any]
    summary: dict[str, Any] | None
    rejects: list[dict[str, Any]]
    rejects_total: int
    error: str | None
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    jobs: list[JobOut]
    next_before: str | None = Field(description="Pass as ?before= for the next page; null on the last.")


class Problem(BaseModel):
    """RFC 9457 problem details, served as application/problem+json."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:lookalike:problem:invalid-parameter",
                    "title": "Invalid parameter",
                    "status": 422,
                    "detail": "box [0.0, 0.0, 5000.0, 10.0] lies outside the 320x240 image",
                    "instance": "/v1/search",
                }
            ]
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Validation errors: loc, msg, type."
    )


__all__ = [
    "CATALOG_PATTERN",
    "DB_INT_MAX",
    "CatalogFacets",
    "CatalogList",
    "CatalogName",
    "CatalogOut",
    "HealthOut",
    "ItemImages",
    "ItemOut",
    "ItemPage",
    "MatchOut",
    "Problem",
    "ReadyOut",
    "ReferenceImageOut",
    "RegionOut",
    "SearchJson",
    "SearchParams",
    "SearchResponse",
    "ValueCountOut",
]
