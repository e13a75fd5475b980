"""lookalike tenants: plans, tenants, their API keys and usage, on the server's database.

The first operator key comes from here (``lookalike tenants key --admin``): with it, everything
else is also possible over HTTP (``/v1/admin/...``). Secrets are printed once and never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.options import ConfigOpt, group
from lookalike.errors import ClientError
from lookalike.settings import load_settings
from tenancy import KeyInfo, Plan, TenancyStore, Tenant
from tenancy import scopes as scope_names

tenants_app = group(
    'Tenants, their API keys, plans and usage (tenancy.auth = "keys" makes the server require keys).'
)

TenantArg = Annotated[str, typer.Argument(metavar="TENANT", help="The tenant's id, e.g. acme.")]
PrefixArg = Annotated[str, typer.Argument(metavar="KEY", help="The key's prefix (its public id).")]


def _store(config: Path | None) -> TenancyStore:
    from catalog import CatalogStore

    catalog = CatalogStore(load_settings(config).db_url)
    catalog.migrate()
    return TenancyStore(catalog.engine)


def _fail(exc: ClientError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _tenant_line(t: Tenant) -> str:
    return f"{t.slug:<24} plan={t.plan.name if t.plan else '-':<12} {t.name}"


def _key_line(k: KeyInfo) -> str:
    state = "active" if k.active(datetime.now(UTC)) else ("revoked" if k.revoked_at else "expired")
    expires = f" expires {k.expires_at:%Y-%m-%d %H:%M}" if k.expires_at and state == "active" else ""
    return f"{k.prefix}  {state:<8} {','.join(k.scopes):<36} {k.name}{expires}"


@tenants_app.command("plan")
def plan(
    name: Annotated[str, typer.Argument(metavar="PLAN")],
    rate: Annotated[float | None, typer.Option("--rate", help="Requests per second.", min=0.001)] = None,
    burst: Annotated[int, typer.Option("--burst", help="Requests at once above the rate.", min=1)] = 1,
    monthly_searches: Annotated[int | None, typer.Option("--monthly-searches", min=0)] = None,
    max_catalogs: Annotated[int | None, typer.Option("--max-catalogs", min=0)] = None,
    max_items: Annotated[int | None, typer.Option("--max-items", min=0, help="Per catalog.")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="An allowed embedder spec (repeatable).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create a plan or replace its limits (unset limits are unlimited)."""
    _store(config).put_plan(
        Plan(name, rate, burst, monthly_searches, max_catalogs, max_items, tuple(model or ()))
    )
    typer.echo(f"plan {name}: saved")


@tenants_app.command("create")
def create(
    tenant: TenantArg,
    name: Annotated[str, typer.Option("--name", help="A display name.")] = "",
    plan_name: Annotated[
        str | None, typer.Option("--plan", help="The plan's name; default: no limits.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Create a tenant."""
    try:
        typer.echo(_tenant_line(_store(config).create_tenant(tenant, name, plan_name)))
    except ClientError as exc:
        raise _fail(exc) from exc


@tenants_app.command("list")
def list_tenants(config: ConfigOpt = None) -> None:
    """Every tenant with its plan."""
    for t in _store(config).list_tenants():
        typer.echo(_tenant_line(t))


@tenants_app.command("key")
def key(
    tenant: Annotated[str | None, typer.Argument(metavar="[TENANT]", help="Omit with --admin.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An operator key: manages every tenant.")] = False,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help=f"Of {', '.join(scope_names.TENANT_SCOPES)} (repeatable); default: search, catalog:read.",
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
    expires_in_days: Annotated[float | None, typer.Option("--expires-in-days", min=0.0)] = None,
    config: ConfigOpt = None,
) -> None:
    """Make an API key and print it (once: only its hash is kept)."""
    if admin == (tenant is not None):
        raise _fail(ClientError("give a TENANT, or --admin for an operator key"))
    scopes = [scope_names.ADMIN] if admin else (scope or list(scope_names.DEFAULT_SCOPES))
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        info, secret = _store(config).create_key(tenant, scopes, name, expires)
    except ClientError as exc:
        raise _fail(exc) from exc
    typer.echo(_key_line(info), err=True)
    typer.echo(secret)


@tenants_app.command("keys")
def keys(
    tenant: Annotated[str | None, typer.Argument(metavar="[TENANT]", help="Omit for operator keys.")] = None,
    config: ConfigOpt = None,
) -> None:
    """A tenant's keys (or the operator keys): prefix, state, scopes, name. Never a secret."""
    try:
        for k in _store(config).list_keys(tenant):
            typer.echo(_key_line(k))
    except ClientError as exc:
        raise _fail(exc) from exc


@tenants_app.command("rotate")
def rotate(
    prefix: PrefixArg,
    overlap_s: Annotated[
        float | None, typer.Option("--overlap-s", min=0.0, help="Default: tenancy.key_overlap_s.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """A successor key (printed once); the old one keeps working for the overlap, then expires."""
    overlap = overlap_s if overlap_s is not None else load_settings(config).tenancy.key_overlap_s
    try:
        info, secret = _store(config).rotate_key(prefix, overlap)
    except ClientError as exc:
        raise _fail(exc) from exc
    typer.echo(_key_line(info), err=True)
    typer.echo(secret)


@tenants_app.command("revoke")
def revoke(prefix: PrefixArg, config: ConfigOpt = None) -> None:
    """Refuse the key from the next request on, in every server process."""
    try:
        typer.echo(_key_line(_store(config).revoke_key(prefix)))
    except ClientError as exc:
        raise _fail(exc) from exc


@tenants_app.command("adopt")
def adopt(
    catalog: Annotated[
        str, typer.Argument(metavar="CATALOG", help="A catalog loaded with lookalike ingest.")
    ],
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant that gets it.")],
    as_name: Annotated[
        str | None, typer.Option("--as", help="The tenant's name for it; default: CATALOG.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Give a catalog loaded from the command line to a tenant (only its keys will see it)."""
    try:
        _store(config).adopt_catalog(tenant, catalog, as_name or catalog)
    except ClientError as exc:
        raise _fail(exc) from exc
    typer.echo(f"catalog {catalog} now belongs to {tenant} as {as_name or catalog}")


@tenants_app.command("usage")
def usage(
    tenant: TenantArg, days: Annotated[int, typer.Option("--days", min=1)] = 31, config: ConfigOpt = None
) -> None:
    """The tenant's metered use per day: searches, images ingested, items and images stored."""
    today = datetime.now(UTC).date()
    try:
        found = _store(config).usage(tenant, today - timedelta(days=days - 1), today)
    except ClientError as exc:
        raise _fail(exc) from exc
    typer.echo("day         searches  images_ingested  items_stored  images_stored")
    for d in found.days:
        typer.echo(
            f"{d.day}  {d.searches:>8}  {d.images_ingested:>15}  {d.items_stored:>12}  {d.images_stored:>13}"
        )
