"""The caller of every request (``CallerDep``) and the catalogs it may name (``ReadCatalog`` ...).

Resolved once per request, in one place: routes take a ``CatalogRef`` and never filter by
tenant themselves, so a new route cannot forget to. With ``tenancy.auth = "none"`` the caller
is anyone with every scope and names are the store's own (the laptop demo).
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Request, Security
from fastapi import Path as PathParam
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.schemas import CATALOG_PATTERN
from service.runtime import Runtime
from tenancy import ANYONE, Caller, CatalogRef, Tenancy, TenancyStore
from tenancy import scopes as scope_names

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lk_...`")
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key: `X-API-Key: lk_...`"
)


async def tenancy_of(request: Request) -> Tenancy:
    """The app's gate, made on first use from the runtime's catalog database."""
    state = request.app.state
    gate: Tenancy | None = getattr(state, "tenancy", None)
    if gate is None:
        runtime: Runtime = state.runtime
        gate = Tenancy(TenancyStore(runtime.store.engine), runtime.settings.tenancy)
        state.tenancy = gate
    return gate


TenancyDep = Annotated[Tenancy, Depends(tenancy_of)]


def _authenticate(tenancy: Tenancy, secret: str | None) -> Caller:
    caller = tenancy.caller(secret)
    tenancy.admit(caller)
    return caller


async def get_caller(
    request: Request,
    tenancy: TenancyDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> Caller:
    """Authenticate, then spend one request of the plan's rate (401 / 429 before any work).

    ``async`` with the database work in a thread: with auth off it costs no thread hop at all."""
    if not tenancy.enabled:
        return ANYONE
    secret = credentials.credentials if credentials is not None else api_key
    caller = await to_thread.run_sync(_authenticate, tenancy, secret)
    request.state.tenant_id = caller.tenant  # per-tenant labels (api.deps.tenant_label); None: no tenant
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def _scoped(scope: str):  # type: ignore[no-untyped-def]
    async def check(caller: CallerDep) -> Caller:
        Tenancy.require(caller, scope)
        return caller

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return Depends(check)


SearchCaller = Annotated[Caller, _scoped(scope_names.SEARCH)]
ReaderCaller = Annotated[Caller, _scoped(scope_names.CATALOG_READ)]
WriterCaller = Annotated[Caller, _scoped(scope_names.CATALOG_WRITE)]
AdminCaller = Annotated[Caller, _scoped(scope_names.ADMIN)]

CatalogPath = Annotated[str, PathParam(min_length=1, max_length=100, pattern=CATALOG_PATTERN)]


def remember(request: Request, ref: CatalogRef) -> CatalogRef:
    """Error details name the caller's catalog, never the store's name for it (see api.problems)."""
    if ref.storage != ref.name:
        names: dict[str, str] = getattr(request.state, "public_names", {})
        names[ref.storage] = ref.name
        request.state.public_names = names
    return ref


async def _owned(request: Request, tenancy: Tenancy, caller: Caller, catalog: str) -> CatalogRef:
    if caller.tenant_id is None:
        return CatalogRef(catalog, catalog)
    return remember(request, await to_thread.run_sync(tenancy.catalog, caller, catalog))


async def read_catalog(
    request: Request, catalog: CatalogPath, caller: ReaderCaller, tenancy: TenancyDep
) -> CatalogRef:
    return await _owned(request, tenancy, caller, catalog)


async def write_catalog(
    request: Request, catalog: CatalogPath, caller: WriterCaller, tenancy: TenancyDep
) -> CatalogRef:
    return await _owned(request, tenancy, caller, catalog)


ReadCatalog = Annotated[CatalogRef, Depends(read_catalog)]
WriteCatalog = Annotated[CatalogRef, Depends(write_catalog)]

__all__ = [
    "AdminCaller",
    "CallerDep",
    "CatalogPath",
    "ReadCatalog",
    "ReaderCaller",
    "SearchCaller",
    "TenancyDep",
    "WriteCatalog",
    "WriterCaller",
    "remember",
]
