"""The tenancy tables: plans, tenants, their API keys, which catalogs they own, usage per day, rates.

They share the catalog's declarative base (one schema, one Alembic chain in
``catalog/migrations``): a tenant's catalog row points at the catalog row it owns.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import Base, utcnow


class PlanRow(Base):
    """What a tenant may use; None on a limit means unlimited."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    rate_per_s: Mapped[float | None] = mapped_column(Float)
    burst: Mapped[int] = mapped_column(Integer, default=1)
    monthly_searches: Mapped[int | None] = mapped_column(Integer)
    max_catalogs: Mapped[int | None] = mapped_column(Integer)
    max_items: Mapped[int | None] = mapped_column(Integer)
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Embedder specs the tenant's catalogs may use; empty: any."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKeyRow(Base):
    """An API key: only its SHA-256 is kept; ``prefix`` names it in lists and logs.

    ``tenant_id`` is None for an operator's key (admin scope over every tenant)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String, default="")
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[int | None] = mapped_column(Integer)


class TenantCatalogRow(Base):
    """A tenant's catalog: the name the tenant uses, and the catalog row (opaque name) it owns."""

    __tablename__ = "tenant_catalogs"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UsageDayRow(Base):
    """One tenant's metered use on one UTC day; ``items``/``images`` are the stored totals at day end."""

    __tablename__ = "usage_days"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    searches: Mapped[int] = mapped_column(Integer, default=0)
    images_ingested: Mapped[int] = mapped_column(Integer, default=0)
    items_stored: Mapped[int] = mapped_column(Integer, default=0)
    images_stored: Mapped[int] = mapped_column(Integer, default=0)


class RateStateRow(Base):
    """The database fallback of the rate limiter: one GCRA 'theoretical arrival time' per key."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


TABLES: tuple[Any, ...] = (PlanRow, TenantRow, ApiKeyRow, TenantCatalogRow, UsageDayRow, RateStateRow)
