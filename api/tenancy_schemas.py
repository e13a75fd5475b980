"""Request and response bodies of the tenancy and catalog-writing endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, create_model

from api.schemas import DB_INT_MAX, CatalogName, item_fields
from tenancy import scopes

KEY_LIFETIME_MAX_S = 100 * 365 * 86_400
"""Longer than any key should live, and short of the calendar's end (year 9999): a 422, not a 500."""

TenantId = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


class PlanIn(BaseModel):
    rate_per_s: float | None = Field(default=None, gt=0, description="Requests per second; null: unlimited.")
    burst: int = Field(
        default=1, ge=1, le=DB_INT_MAX, description="Requests allowed at once above the steady rate."
    )
    monthly_searches: int | None = Field(default=None, ge=0, le=DB_INT_MAX)
    max_catalogs: int | None = Field(default=None, ge=0, le=DB_INT_MAX)
    max_items: int | None = Field(default=None, ge=0, le=DB_INT_MAX, description="Items per catalog.")
    models: list[str] = Field(default_factory=list, description="Embedder specs allowed; empty: any.")


class PlanOut(PlanIn):
    name: str


class PlanList(BaseModel):
    plans: list[PlanOut]


class TenantIn(BaseModel):
    id: TenantId
    name: str = Field(default="", max_length=200)
    plan: str | None = Field(default=None, description="A plan's name; null: no limits.")


class TenantPatch(BaseModel):
    plan: str | None


class TenantOut(BaseModel):
    id: str
    name: str
    plan: PlanOut | None
    created_at: datetime


class TenantList(BaseModel):
    tenants: list[TenantOut]


class KeyIn(BaseModel):
    name: str = Field(default="", max_length=200)
    scopes: list[str] = Field(
        default_factory=lambda: list(scopes.DEFAULT_SCOPES),
        description=f"Of {', '.join(scopes.TENANT_SCOPES)}.",
    )
    expires_in_s: float | None = Field(default=None, gt=0, le=KEY_LIFETIME_MAX_S)


class KeyOut(BaseModel):
    prefix: str = Field(description="The key's public id (the secret's first part).")
    tenant: str | None
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class KeyCreated(KeyOut):
    secret: str = Field(description="The key itself. Shown once: it is stored only as a hash.")


class KeyList(BaseModel):
    keys: list[KeyOut]


class RotateIn(BaseModel):
    overlap_s: float | None = Field(
        default=None, ge=0, description="How long the old key keeps working; null: the server's setting."
    )


class UsageDayOut(BaseModel):
    day: date
    searches: int
    images_ingested: int
    items_stored: int
    images_stored: int


class UsageOut(BaseModel):
    tenant: str
    since: date
    until: date
    searches: int
    images_ingested: int
    monthly_searches_used: int
    monthly_searches_allowed: int | None
    days: list[UsageDayOut]


class CatalogIn(BaseModel):
    name: CatalogName


class CatalogDetail(BaseModel):
    name: str
    item_count: int
    image_count: int
    created_at: datetime
    index_version: str | None = Field(description="The live index version; null before the first items.")
    index_time: datetime | None = Field(
        description="When the index last caught up with the catalog's writes (its newest version or segment)."
    )


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=4096, description="http(s) URL to fetch.")
    base64: str | None = Field(default=None, description="The image bytes, base64.")


_ItemInFields = create_model(
    "ItemInFields", **item_fields(exclude=frozenset({"item_id", "image_url", "attributes"}))
)


class ItemIn(_ItemInFields):  # type: ignore[misc,valid-type]
    """The item's metadata (it replaces what is stored) and images to add to it."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, never silently dropped

    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Any other fields (filterable)."
    )
    images: list[ImageIn] = Field(
        default_factory=list, max_length=20, description="Images to add; a new item needs one."
    )


class RejectOut(BaseModel):
    image: str
    reason: str


class UpsertOut(BaseModel):
    catalog: str
    item_id: str
    images_added: int
    rejects: list[RejectOut]
    index_version: str | None
