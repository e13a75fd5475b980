"""``Tenancy``: the one place a request's caller is known, checked against its scopes and plan,
and its catalog names are turned into the catalogs it owns.

Routes never filter by tenant themselves: they ask the gate for a catalog, and a name the caller
does not own is ``UnknownCatalogError`` with the caller's own words, exactly as a catalog that
does not exist (no existence oracle).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from lookalike.errors import UnknownCatalogError
from lookalike.settings import TenancySettings
from tenancy import scopes
from tenancy.errors import PlanLimitError, RateLimitedError, ScopeError, UnauthenticatedError
from tenancy.limits import (
    DatabaseMonthlyCounter,
    DatabaseRateLimiter,
    MonthlyCounter,
    RateLimiter,
    RedisMonthlyCounter,
    RedisRateLimiter,
    redis_client,
)
from tenancy.records import Caller
from tenancy.store import TenancyStore, month_start, utcnow

log = logging.getLogger(__name__)

ANYONE = Caller(tenant_id=None, tenant=None, scopes=frozenset(scopes.ALL_SCOPES))
"""The caller when ``auth = "none"``: every scope, every catalog, no plan."""


@dataclass(frozen=True, slots=True)
class CatalogRef:
    """A catalog as the caller names it (``name``) and as the store and indexes name it (``storage``)."""

    name: str
    storage: str


def _next_month(today: date) -> date:
    return (today.replace(day=28) + (date.resolution * 4)).replace(day=1)


class Tenancy:
    def __init__(self, store: TenancyStore, settings: TenancySettings) -> None:
        self.store = store
        self.settings = settings
        self.rates: RateLimiter
        self.months: MonthlyCounter
        if settings.redis_url:
            client = redis_client(settings.redis_url)
            prefix = settings.redis_prefix
            self.rates = RedisRateLimiter(client, prefix)
            self.months = RedisMonthlyCounter(client, store, prefix)
        else:
            self.rates, self.months = DatabaseRateLimiter(store.engine), DatabaseMonthlyCounter(store)

    @property
    def enabled(self) -> bool:
        return self.settings.auth == "keys"

    def caller(self, secret: str | None) -> Caller:
        """Who sends ``secret`` (``Authorization: Bearer`` or ``X-API-Key``); anyone when auth is off."""
        if not self.enabled:
            return ANYONE
        if not secret:
            raise UnauthenticatedError(
                "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        found = self.store.authenticate(secret)
        if found is None:
            raise UnauthenticatedError("the API key is unknown, expired or revoked")
        return found

    def admit(self, caller: Caller) -> None:
        """The plan's request rate (every endpoint counts); over it: 429 with Retry-After."""
        plan = caller.plan
        if caller.tenant_id is None or plan is None or plan.rate_per_s is None:
            return
        wait = self.rates.acquire(f"t{caller.tenant_id}", plan.rate_per_s, plan.burst)
        if wait > 0:
            raise RateLimitedError(
                f"plan {plan.name!r} allows {plan.rate_per_s:g} requests/s with a burst of {plan.burst}; "
                f"retry in {wait:.2f} s",
                limit="rate_per_s",
                value=plan.rate_per_s,
                retry_after_s=wait,
            )

    def reserve_search(self, caller: Caller) -> None:
        """Count a search against the month's allowance and the tenant's meter."""
        if caller.tenant_id is None:
            return
        plan = caller.plan
        today = utcnow().date()
        if plan is None or plan.monthly_searches is None:
            self.store.record(caller.tenant_id, searches=1)
            return
        if not self.months.reserve(caller.tenant_id, plan.monthly_searches, month_start(today)):
            next_month = _next_month(today)
            raise RateLimitedError(
                f"plan {plan.name!r} allows {plan.monthly_searches} searches a month, all used; "
                f"the allowance renews on {next_month.isoformat()}",
                limit="monthly_searches",
                value=plan.monthly_searches,
                retry_after_s=(next_month - today).days * 86400.0,
            )

    @staticmethod
    def require(caller: Caller, scope: str) -> None:
        if scope not in caller.scopes and scopes.ADMIN not in caller.scopes:
            raise ScopeError(f"this key lacks the {scope!r} scope")

    def catalog(self, caller: Caller, name: str) -> CatalogRef:
        """The caller's catalog ``name``; any other is unknown, exactly like one that does not exist."""
        if caller.tenant_id is None:
            return CatalogRef(name, name)  # auth off, or an operator: names are the store's own
        storage = self.store.resolve_catalog(caller.tenant_id, name)
        if storage is None:
            raise UnknownCatalogError(f"catalog {name!r} does not exist")
        return CatalogRef(name, storage)

    def visible(self, caller: Caller) -> dict[str, str] | None:
        """Storage name -> the caller's name for each catalog it sees; None: every catalog, as named."""
        if caller.tenant_id is None:
            return None
        return {storage: name for storage, (_, name) in self.store.catalogs(caller.tenant_id).items()}

    def check_items(self, caller: Caller, ref: CatalogRef, adding: int) -> None:
        """A write that would take the catalog over the plan's items: refused whole, never truncated."""
        plan = caller.plan
        if plan is None or plan.max_items is None or adding <= 0:
            return
        have = self.store.item_count(ref.storage)
        if have + adding > plan.max_items:
            raise PlanLimitError(
                f"plan {plan.name!r} allows {plan.max_items} items per catalog; catalog {ref.name!r} has "
                f"{have} and this would add {adding}",
                limit="max_items",
                value=plan.max_items,
            )

    @staticmethod
    def check_model(caller: Caller, model_spec: str) -> None:
        plan = caller.plan
        if plan is None or not plan.models or model_spec in plan.models:
            return
        raise PlanLimitError(
            f"plan {plan.name!r} allows the models {', '.join(plan.models)}, not {model_spec!r}",
            limit="models",
            value=list(plan.models),
        )

    def meter_ingest(self, caller: Caller, images: int) -> None:
        if caller.tenant_id is None:
            return
        if images:
            self.store.record(caller.tenant_id, images_ingested=images)
        self.store.refresh_storage(caller.tenant_id)
