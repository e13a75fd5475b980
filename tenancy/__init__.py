"""Tenants, API keys, scopes, plans and their limits, metered usage (docs/TENANTS.md).

``Tenancy`` (``gate``) is the whole interface a server uses: who calls, may it, and which catalog
does its name mean; ``TenancyStore`` holds the rows (in the catalog database, same migrations).
"""

from tenancy.errors import (
    ConflictError,
    PlanLimitError,
    RateLimitedError,
    ScopeError,
    UnauthenticatedError,
    UnknownKeyError,
    UnknownPlanError,
    UnknownTenantError,
)
from tenancy.gate import ANYONE, CatalogRef, Tenancy
from tenancy.records import Caller, KeyInfo, Plan, Tenant, Usage, UsageDay
from tenancy.store import TenancyStore

__all__ = [
    "ANYONE",
    "Caller",
    "CatalogRef",
    "ConflictError",
    "KeyInfo",
    "Plan",
    "PlanLimitError",
    "RateLimitedError",
    "ScopeError",
    "Tenancy",
    "TenancyStore",
    "Tenant",
    "UnauthenticatedError",
    "UnknownKeyError",
    "UnknownPlanError",
    "UnknownTenantError",
    "Usage",
    "UsageDay",
]
