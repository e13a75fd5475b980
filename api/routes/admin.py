"""Tenants, their keys and plans (the ``admin`` scope), and a tenant's own usage and key rotation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam

from api.auth import AdminCaller, CallerDep, TenancyDep
from api.deps import RuntimeDep
from api.problems import documented_problem
from api.tenancy_schemas import (
    KeyCreated,
    KeyIn,
    KeyList,
    KeyOut,
    PlanIn,
    PlanList,
    PlanOut,
    RotateIn,
    TenantIn,
    TenantList,
    TenantOut,
    TenantPatch,
    UsageDayOut,
    UsageOut,
)
from catalog_ingest.maintenance import remove_catalog
from lookalike.errors import InvalidParameterError
from tenancy import KeyInfo, Plan, Tenancy, Tenant
from tenancy.store import month_start, utcnow

router = APIRouter(prefix="/v1/admin", tags=["admin"])
self_router = APIRouter(prefix="/v1", tags=["tenant"])

TenantPath = Annotated[str, PathParam(min_length=1, max_length=40)]
KeyPath = Annotated[str, PathParam(min_length=1, max_length=16)]


AUTH: dict[int | str, dict[str, Any]] = {
    401: documented_problem("No API key, or an unknown, expired or revoked one"),
    403: documented_problem("The key lacks the admin scope"),
    429: documented_problem("Over the plan's request rate"),
}
FOUND: dict[int | str, dict[str, Any]] = {
    **AUTH,
    404: documented_problem("Unknown tenant, key or plan"),
    409: documented_problem("Already exists"),
    422: documented_problem("Invalid value"),
}


def plan_out(plan: Plan) -> PlanOut:
    return PlanOut(
        name=plan.name,
        rate_per_s=plan.rate_per_s,
        burst=plan.burst,
        monthly_searches=plan.monthly_searches,
        max_catalogs=plan.max_catalogs,
        max_items=plan.max_items,
        models=list(plan.models),
    )


def tenant_out(tenant: Tenant) -> TenantOut:
    return TenantOut(
        id=tenant.slug,
        name=tenant.name,
        plan=plan_out(tenant.plan) if tenant.plan else None,
        created_at=tenant.created_at,
    )


def key_out(key: KeyInfo) -> KeyOut:
    return KeyOut(
        prefix=key.prefix,
        tenant=key.tenant,
        name=key.name,
        scopes=list(key.scopes),
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        active=key.active(utcnow()),
    )


def key_created(key: KeyInfo, secret: str) -> KeyCreated:
    return KeyCreated(**key_out(key).model_dump(), secret=secret)


# -- plans -----------------------------------------------------------------------------


@router.put("/plans/{plan}", response_model=PlanOut, summary="Create or change a plan", responses=FOUND)
def put_plan(
    plan: Annotated[str, PathParam(min_length=1, max_length=64)], body: PlanIn, _: AdminCaller, t: TenancyDep
) -> PlanOut:
    return plan_out(t.store.put_plan(Plan(name=plan, **{**body.model_dump(), "models": tuple(body.models)})))


@router.get("/plans", response_model=PlanList, summary="Every plan", responses=AUTH)
def list_plans(_: AdminCaller, t: TenancyDep) -> PlanList:
    return PlanList(plans=[plan_out(p) for p in t.store.list_plans()])


# -- tenants ---------------------------------------------------------------------------


@router.post(
    "/tenants", response_model=TenantOut, status_code=201, summary="Create a tenant", responses=FOUND
)
def create_tenant(body: TenantIn, _: AdminCaller, t: TenancyDep) -> TenantOut:
    return tenant_out(t.store.create_tenant(body.id, body.name, body.plan))


@router.get("/tenants", response_model=TenantList, summary="Every tenant", responses=AUTH)
def list_tenants(_: AdminCaller, t: TenancyDep) -> TenantList:
    return TenantList(tenants=[tenant_out(x) for x in t.store.list_tenants()])


@router.get("/tenants/{tenant}", response_model=TenantOut, summary="One tenant", responses=FOUND)
def get_tenant(tenant: TenantPath, _: AdminCaller, t: TenancyDep) -> TenantOut:
    return tenant_out(t.store.get_tenant(tenant))


@router.patch(
    "/tenants/{tenant}", response_model=TenantOut, summary="Move a tenant to a plan", responses=FOUND
)
def patch_tenant(tenant: TenantPath, body: TenantPatch, _: AdminCaller, t: TenancyDep) -> TenantOut:
    return tenant_out(t.store.set_plan(tenant, body.plan))


@router.delete(
    "/tenants/{tenant}",
    status_code=204,
    summary="Delete a tenant with its keys, catalogs and indexes",
    responses=FOUND,
)
def delete_tenant(tenant: TenantPath, _: AdminCaller, t: TenancyDep, runtime: RuntimeDep) -> Response:
    for storage in t.store.delete_tenant(tenant):
        remove_catalog(runtime.ingest_parts(), storage)
    return Response(status_code=204)


# -- keys ------------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant}/keys",
    response_model=KeyCreated,
    status_code=201,
    summary="A new key for the tenant (its secret is in this response only)",
    responses=FOUND,
)
def create_key(tenant: TenantPath, body: KeyIn, _: AdminCaller, t: TenancyDep) -> KeyCreated:
    expires = utcnow() + timedelta(seconds=body.expires_in_s) if body.expires_in_s else None
    info, secret = t.store.create_key(tenant, body.scopes, body.name, expires)
    return key_created(info, secret)


@router.get("/tenants/{tenant}/keys", response_model=KeyList, summary="The tenant's keys", responses=FOUND)
def list_keys(tenant: TenantPath, _: AdminCaller, t: TenancyDep) -> KeyList:
    return KeyList(keys=[key_out(k) for k in t.store.list_keys(tenant)])


@router.post(
    "/keys/{prefix}/rotate",
    response_model=KeyCreated,
    status_code=201,
    summary="A successor key; the old one keeps working for the overlap, then expires",
    responses=FOUND,
)
def rotate_key(prefix: KeyPath, body: RotateIn, _: AdminCaller, t: TenancyDep) -> KeyCreated:
    overlap = body.overlap_s if body.overlap_s is not None else t.settings.key_overlap_s
    return key_created(*t.store.rotate_key(prefix, overlap))


@router.delete(
    "/keys/{prefix}",
    response_model=KeyOut,
    summary="Revoke a key at once (every server process)",
    responses=FOUND,
)
def revoke_key(prefix: KeyPath, _: AdminCaller, t: TenancyDep) -> KeyOut:
    return key_out(t.store.revoke_key(prefix))


# -- usage -----------------------------------------------------------------------------

Since = Annotated[date | None, Query(description="First day (UTC); default: the first of this month.")]
Until = Annotated[date | None, Query(description="Last day (UTC); default: today.")]


def usage_out(t: Tenancy, tenant: str, since: date | None, until: date | None) -> UsageOut:
    today = utcnow().date()
    since, until = since or month_start(today), until or today
    if since > until:
        raise InvalidParameterError(f"since {since} is after until {until}")
    usage = t.store.usage(tenant, since, until)
    info = t.store.get_tenant(tenant)
    return UsageOut(
        tenant=tenant,
        since=since,
        until=until,
        searches=usage.searches,
        images_ingested=usage.images_ingested,
        monthly_searches_used=t.store.month_searches(info.id, month_start(today)),
        monthly_searches_allowed=info.plan.monthly_searches if info.plan else None,
        days=[
            UsageDayOut(
                day=d.day,
                searches=d.searches,
                images_ingested=d.images_ingested,
                items_stored=d.items_stored,
                images_stored=d.images_stored,
            )
            for d in usage.days
        ],
    )


@router.get(
    "/tenants/{tenant}/usage",
    response_model=UsageOut,
    summary="A tenant's metered use per day",
    responses=FOUND,
)
def tenant_usage(
    tenant: TenantPath, _: AdminCaller, t: TenancyDep, since: Since = None, until: Until = None
) -> UsageOut:
    return usage_out(t, tenant, since, until)


@self_router.get(
    "/usage",
    response_model=UsageOut,
    summary="The calling tenant's metered use per day, and its month's search allowance",
    responses={**AUTH, 422: documented_problem("The key belongs to no tenant (an operator key)")},
)
def my_usage(caller: CallerDep, t: TenancyDep, since: Since = None, until: Until = None) -> UsageOut:
    if caller.tenant is None:
        raise InvalidParameterError("this key belongs to no tenant: ask /v1/admin/tenants/{tenant}/usage")
    return usage_out(t, caller.tenant, since, until)


@self_router.post(
    "/keys/self/rotate",
    response_model=KeyCreated,
    status_code=201,
    summary="Rotate the calling key: a successor now, the calling key expires after the overlap",
    responses={**AUTH, 422: documented_problem("Auth is off: there is no calling key")},
)
async def rotate_self(caller: CallerDep, body: RotateIn, t: TenancyDep) -> KeyCreated:
    if caller.key_prefix is None:
        raise InvalidParameterError("auth is off on this server: there is no key to rotate")
    overlap = body.overlap_s if body.overlap_s is not None else t.settings.key_overlap_s
    return key_created(*await to_thread.run_sync(t.store.rotate_key, caller.key_prefix, overlap))
