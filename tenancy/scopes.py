"""What a key may do. ``admin`` manages tenants, keys and plans (and implies the others)."""

from __future__ import annotations

SEARCH = "search"
CATALOG_READ = "catalog:read"
CATALOG_WRITE = "catalog:write"
ADMIN = "admin"

TENANT_SCOPES = (SEARCH, CATALOG_READ, CATALOG_WRITE)
ALL_SCOPES = (*TENANT_SCOPES, ADMIN)
DEFAULT_SCOPES = (SEARCH, CATALOG_READ)


def normalise(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Known scopes in a stable order; raises ValueError naming an unknown one."""
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(ALL_SCOPES)}")
    return [s for s in ALL_SCOPES if s in scopes]
