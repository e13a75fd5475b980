"""The values the tenancy store takes and hands out (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    rate_per_s: float | None = None
    """Requests per second, every endpoint together; None: unlimited."""
    burst: int = 1
    """Requests allowed at once above the steady rate."""
    monthly_searches: int | None = None
    max_catalogs: int | None = None
    max_items: int | None = None
    """Items per catalog."""
    models: tuple[str, ...] = ()
    """Embedder specs allowed; empty: any."""


@dataclass(frozen=True, slots=True)
class Tenant:
    id: int
    slug: str
    name: str
    plan: Plan | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as lists show it: never its secret."""

    prefix: str
    tenant: str | None
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a tenant's key, an operator's key (``tenant`` None), or anyone (auth = none)."""

    tenant_id: int | None
    tenant: str | None
    scopes: frozenset[str]
    key_prefix: str | None = None
    plan: Plan | None = None

    @property
    def anonymous(self) -> bool:
        return self.key_prefix is None


@dataclass(frozen=True, slots=True)
class UsageDay:
    day: date
    searches: int = 0
    images_ingested: int = 0
    items_stored: int = 0
    images_stored: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    tenant: str
    days: list[UsageDay] = field(default_factory=list)

    @property
    def searches(self) -> int:
        return sum(d.searches for d in self.days)

    @property
    def images_ingested(self) -> int:
        return sum(d.images_ingested for d in self.days)
