"""``TenancyStore``: plans, tenants, keys, tenant catalogs and metered usage in the catalog database.

Every catalog a tenant creates is a catalog row with an opaque name (``t<tenant>-<random>``);
the tenant only ever sees its own name for it, so two tenants may both have a "shoes" and
neither can learn that the other exists.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from catalog.models import Catalog, Image, Item
from lookalike.errors import InvalidParameterError, UnknownCatalogError
from tenancy import scopes as scope_names
from tenancy.errors import (
    ConflictError,
    PlanLimitError,
    UnknownKeyError,
    UnknownPlanError,
    UnknownTenantError,
)
from tenancy.keys import hash_key, looks_like_key, new_key
from tenancy.models import ApiKeyRow, PlanRow, TenantCatalogRow, TenantRow, UsageDayRow
from tenancy.records import Caller, KeyInfo, Plan, Tenant, Usage, UsageDay

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plan(row: PlanRow | None) -> Plan | None:
    if row is None:
        return None
    return Plan(
        name=row.name,
        rate_per_s=row.rate_per_s,
        burst=row.burst,
        monthly_searches=row.monthly_searches,
        max_catalogs=row.max_catalogs,
        max_items=row.max_items,
        models=tuple(row.models or ()),
    )


def storage_name(tenant_id: int) -> str:
    """An opaque catalog name: index folders and logs never show a tenant's own name for it."""
    return f"t{tenant_id}-{secrets.token_hex(8)}"


class TenancyStore:
    """Reads and writes of the tenancy tables; the API and the CLI call this, never the rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- plans ---------------------------------------------------------------------------

    def put_plan(self, plan: Plan) -> Plan:
        """Create the plan, or replace its limits (tenants on it get them at their next request)."""
        values: dict[str, Any] = {
            "rate_per_s": plan.rate_per_s,
            "burst": plan.burst,
            "monthly_searches": plan.monthly_searches,
            "max_catalogs": plan.max_catalogs,
            "max_items": plan.max_items,
            "models": list(plan.models),
        }
        with self._session() as session:
            row = session.scalar(select(PlanRow).where(PlanRow.name == plan.name))
            if row is None:
                session.add(PlanRow(name=plan.name, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
        return plan

    def get_plan(self, name: str) -> Plan:
        with self._session() as session:
            found = _plan(session.scalar(select(PlanRow).where(PlanRow.name == name)))
        if found is None:
            raise UnknownPlanError(f"there is no plan {name!r}")
        return found

    def list_plans(self) -> list[Plan]:
        with self._session() as session:
            return [p for p in map(_plan, session.scalars(select(PlanRow).order_by(PlanRow.name))) if p]

    # -- tenants -------------------------------------------------------------------------

    def create_tenant(self, slug: str, name: str = "", plan: str | None = None) -> Tenant:
        if not SLUG.match(slug):
            raise InvalidParameterError(
                f"tenant id {slug!r} must be 1-40 lowercase letters, digits or '-', "
                "starting with a letter or digit"
            )
        try:
            with self._session() as session:
                plan_id = self._plan_id(session, plan)
                row = TenantRow(slug=slug, name=name or slug, plan_id=plan_id)
                session.add(row)
                session.flush()
        except IntegrityError as exc:
            raise ConflictError(f"tenant {slug!r} already exists") from exc
        return self.get_tenant(slug)

    def set_plan(self, slug: str, plan: str | None) -> Tenant:
        with self._session() as session:
            row = self._tenant_row(session, slug)
            row.plan_id = self._plan_id(session, plan)
        return self.get_tenant(slug)

    def get_tenant(self, slug: str) -> Tenant:
        with self._session() as session:
            row = self._tenant_row(session, slug)
            return self._tenant(session, row)

    def list_tenants(self) -> list[Tenant]:
        with self._session() as session:
            rows = session.scalars(select(TenantRow).order_by(TenantRow.slug)).all()
            return [self._tenant(session, row) for row in rows]

    def delete_tenant(self, slug: str) -> list[str]:
        """Delete the tenant and its keys; returns its catalogs' storage names (for the caller to delete)."""
        with self._session() as session:
            row = self._tenant_row(session, slug)
            names = list(
                session.scalars(
                    select(Catalog.name)
                    .join(TenantCatalogRow, TenantCatalogRow.catalog_id == Catalog.id)
                    .where(TenantCatalogRow.tenant_id == row.id)
                )
            )
            session.delete(row)
        return names

    @staticmethod
    def _plan_id(session: Session, plan: str | None) -> int | None:
        if plan is None:
            return None
        plan_id = session.scalar(select(PlanRow.id).where(PlanRow.name == plan))
        if plan_id is None:
            raise UnknownPlanError(f"there is no plan {plan!r}")
        return plan_id

    @staticmethod
    def _tenant_row(session: Session, slug: str) -> TenantRow:
        row = session.scalar(select(TenantRow).where(TenantRow.slug == slug))
        if row is None:
            raise UnknownTenantError(f"there is no tenant {slug!r}")
        return row

    @staticmethod
    def _tenant(session: Session, row: TenantRow) -> Tenant:
        plan = session.get(PlanRow, row.plan_id) if row.plan_id is not None else None
        created = _aware(row.created_at)
        assert created is not None
        return Tenant(row.id, row.slug, row.name, _plan(plan), created)

    # -- keys ----------------------------------------------------------------------------

    def create_key(
        self,
        tenant: str | None,
        scopes: list[str] | tuple[str, ...] = scope_names.DEFAULT_SCOPES,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> tuple[KeyInfo, str]:
        """A new key for the tenant (None: an operator key, which must carry ``admin``); the secret once."""
        try:
            wanted = scope_names.normalise(list(scopes))
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from exc
        if not wanted:
            raise InvalidParameterError("a key needs at least one scope")
        if tenant is None and scope_names.ADMIN not in wanted:
            raise InvalidParameterError("a key of no tenant is an operator key: give it the 'admin' scope")
        if tenant is not None and scope_names.ADMIN in wanted:
            raise InvalidParameterError("the 'admin' scope is for operator keys, not a tenant's")
        key = new_key()
        with self._session() as session:
            tenant_id = self._tenant_row(session, tenant).id if tenant is not None else None
            row = ApiKeyRow(
                tenant_id=tenant_id,
                prefix=key.prefix,
                key_hash=key.key_hash,
                name=name,
                scopes=wanted,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            return self._key_info(row, tenant), key.secret

    def list_keys(self, tenant: str | None) -> list[KeyInfo]:
        with self._session() as session:
            tenant_id = self._tenant_row(session, tenant).id if tenant is not None else None
            stmt = select(ApiKeyRow).where(
                ApiKeyRow.tenant_id.is_(None) if tenant_id is None else ApiKeyRow.tenant_id == tenant_id
            )
            return [self._key_info(row, tenant) for row in session.scalars(stmt.order_by(ApiKeyRow.id))]

    def get_key(self, prefix: str) -> KeyInfo:
        with self._session() as session:
            row = self._key_row(session, prefix)
            return self._key_info(row, self._slug(session, row.tenant_id))

    def rotate_key(self, prefix: str, overlap_s: float) -> tuple[KeyInfo, str]:
        """A successor with the same tenant, scopes and name; the old key works ``overlap_s`` more seconds."""
        key = new_key()
        now = utcnow()
        with self._session() as session:
            old = self._key_row(session, prefix)
            info = self._key_info(old, None)
            if not info.active(now):
                raise UnknownKeyError(f"key {prefix!r} is revoked or expired; create a new one")
            if old.replaced_by is not None:
                successor = session.scalar(select(ApiKeyRow.prefix).where(ApiKeyRow.id == old.replaced_by))
                raise ConflictError(f"key {prefix!r} was rotated already; rotate its successor {successor!r}")
            row = ApiKeyRow(
                tenant_id=old.tenant_id,
                prefix=key.prefix,
                key_hash=key.key_hash,
                name=old.name,
                scopes=list(old.scopes),
                expires_at=old.expires_at,
            )
            session.add(row)
            session.flush()
            ends = now + timedelta(seconds=overlap_s)
            old_expiry = _aware(old.expires_at)
            old.expires_at = ends if old_expiry is None or old_expiry > ends else old_expiry
            old.replaced_by = row.id
            return self._key_info(row, self._slug(session, row.tenant_id)), key.secret

    def revoke_key(self, prefix: str) -> KeyInfo:
        """Refused from the next request on, in every server process (keys are not cached)."""
        with self._session() as session:
            row = self._key_row(session, prefix)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return self._key_info(row, self._slug(session, row.tenant_id))

    def authenticate(self, secret: str) -> Caller | None:
        """The caller a key stands for, or None for an unknown, expired or revoked key."""
        if not looks_like_key(secret):
            return None
        stmt = (
            select(ApiKeyRow, TenantRow, PlanRow)
            .outerjoin(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
            .outerjoin(PlanRow, PlanRow.id == TenantRow.plan_id)
            .where(ApiKeyRow.key_hash == hash_key(secret))
        )
        with self._sessions() as session:
            found = session.execute(stmt).first()
            if found is None:
                return None
            key, tenant, plan = found
            info = self._key_info(key, tenant.slug if tenant else None)
            if not info.active(utcnow()):
                return None
            return Caller(
                tenant_id=tenant.id if tenant else None,
                tenant=tenant.slug if tenant else None,
                scopes=frozenset(info.scopes),
                key_prefix=key.prefix,
                plan=_plan(plan),
            )

    @staticmethod
    def _key_row(session: Session, prefix: str) -> ApiKeyRow:
        row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix))
        if row is None:
            raise UnknownKeyError(f"there is no key {prefix!r}")
        return row

    @staticmethod
    def _slug(session: Session, tenant_id: int | None) -> str | None:
        return (
            None
            if tenant_id is None
            else session.scalar(select(TenantRow.slug).where(TenantRow.id == tenant_id))
        )

    @staticmethod
    def _key_info(row: ApiKeyRow, tenant: str | None) -> KeyInfo:
        created = _aware(row.created_at)
        assert created is not None
        return KeyInfo(
            prefix=row.prefix,
            tenant=tenant,
            name=row.name,
            scopes=tuple(row.scopes or ()),
            created_at=created,
            expires_at=_aware(row.expires_at),
            revoked_at=_aware(row.revoked_at),
        )

    # -- catalogs ------------------------------------------------------------------------

    def create_catalog(self, tenant_id: int, name: str, plan: Plan | None) -> str:
        """Claim ``name`` for the tenant; returns the catalog's storage name. Within the plan's count."""
        try:
            with self._session() as session:
                # Lock the tenant's row: two processes creating at once must not both pass the count.
                session.execute(select(TenantRow.id).where(TenantRow.id == tenant_id).with_for_update()).one()
                if plan is not None and plan.max_catalogs is not None:
                    count = session.scalar(
                        select(func.count(TenantCatalogRow.id)).where(TenantCatalogRow.tenant_id == tenant_id)
                    )
                    if (count or 0) >= plan.max_catalogs:
                        raise PlanLimitError(
                            f"plan {plan.name!r} allows {plan.max_catalogs} catalogs; delete one first",
                            limit="max_catalogs",
                            value=plan.max_catalogs,
                        )
                if session.scalar(
                    select(TenantCatalogRow.id).where(
                        TenantCatalogRow.tenant_id == tenant_id, TenantCatalogRow.name == name
                    )
                ):
                    raise ConflictError(f"you already have a catalog {name!r}")
                catalog = Catalog(name=storage_name(tenant_id))
                session.add(catalog)
                session.flush()
                session.add(TenantCatalogRow(tenant_id=tenant_id, name=name, catalog_id=catalog.id))
                return catalog.name
        except IntegrityError as exc:
            raise ConflictError(f"you already have a catalog {name!r}") from exc

    def adopt_catalog(self, tenant: str, storage: str, name: str) -> None:
        """Give an existing catalog (e.g. one ``lookalike ingest`` loaded) to a tenant, under ``name``."""
        try:
            with self._session() as session:
                tenant_id = self._tenant_row(session, tenant).id
                catalog_id = session.scalar(select(Catalog.id).where(Catalog.name == storage))
                if catalog_id is None:
                    raise UnknownCatalogError(f"catalog {storage!r} does not exist")
                session.add(TenantCatalogRow(tenant_id=tenant_id, name=name, catalog_id=catalog_id))
        except IntegrityError as exc:
            raise ConflictError(
                f"catalog {storage!r} already has a tenant, or {tenant!r} has a {name!r}"
            ) from exc

    def resolve_catalog(self, tenant_id: int, name: str) -> str | None:
        """The storage name of the tenant's catalog ``name``; None when the tenant has none by that name."""
        stmt = (
            select(Catalog.name)
            .join(TenantCatalogRow, TenantCatalogRow.catalog_id == Catalog.id)
            .where(TenantCatalogRow.tenant_id == tenant_id, TenantCatalogRow.name == name)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar()

    def catalogs(self, tenant_id: int | None = None) -> dict[str, tuple[str, str]]:
        """Storage name -> (tenant, the tenant's name) for one tenant's catalogs, or for every tenant's."""
        stmt = (
            select(Catalog.name, TenantRow.slug, TenantCatalogRow.name)
            .join(TenantCatalogRow, TenantCatalogRow.catalog_id == Catalog.id)
            .join(TenantRow, TenantRow.id == TenantCatalogRow.tenant_id)
        )
        if tenant_id is not None:
            stmt = stmt.where(TenantCatalogRow.tenant_id == tenant_id)
        with self.engine.connect() as conn:
            return {storage: (slug, name) for storage, slug, name in conn.execute(stmt)}

    def item_count(self, storage: str) -> int:
        stmt = (
            select(func.count(Item.id))
            .join(Catalog, Catalog.id == Item.catalog_id)
            .where(Catalog.name == storage)
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    # -- usage ---------------------------------------------------------------------------

    def record(
        self, tenant_id: int, *, searches: int = 0, images_ingested: int = 0, day: date | None = None
    ) -> None:
        """Add to the tenant's meter for the day (UTC today by default); atomic across processes."""
        day = day or utcnow().date()
        changes = {
            UsageDayRow.searches: UsageDayRow.searches + searches,
            UsageDayRow.images_ingested: UsageDayRow.images_ingested + images_ingested,
        }
        with self._session() as session:
            self._ensure_day(session, tenant_id, day)
            session.execute(
                update(UsageDayRow)
                .where(UsageDayRow.tenant_id == tenant_id, UsageDayRow.day == day)
                .values(changes)
            )

    def reserve_search(self, tenant_id: int, allowance: int, month_start: date) -> bool:
        """Count one search if the month's count stays within ``allowance`` (in one transaction)."""
        today = utcnow().date()
        try:
            with self._session() as session:
                self._ensure_day(session, tenant_id, today)
                session.execute(
                    update(UsageDayRow)
                    .where(UsageDayRow.tenant_id == tenant_id, UsageDayRow.day == today)
                    .values({UsageDayRow.searches: UsageDayRow.searches + 1})
                )
                used = session.scalar(
                    select(func.coalesce(func.sum(UsageDayRow.searches), 0)).where(
                        UsageDayRow.tenant_id == tenant_id, UsageDayRow.day >= month_start
                    )
                )
                if int(used or 0) > allowance:
                    raise _OverAllowance
        except _OverAllowance:
            return False  # the transaction rolled back: the refused search is not counted
        return True

    def month_searches(self, tenant_id: int, month_start: date) -> int:
        stmt = select(func.coalesce(func.sum(UsageDayRow.searches), 0)).where(
            UsageDayRow.tenant_id == tenant_id, UsageDayRow.day >= month_start
        )
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def refresh_storage(self, tenant_id: int) -> None:
        """Write the tenant's stored items and images into today's meter."""
        owned = select(TenantCatalogRow.catalog_id).where(TenantCatalogRow.tenant_id == tenant_id)
        today = utcnow().date()
        with self._session() as session:
            items = session.scalar(select(func.count(Item.id)).where(Item.catalog_id.in_(owned))) or 0
            images = session.scalar(select(func.count(Image.id)).where(Image.catalog_id.in_(owned))) or 0
            self._ensure_day(session, tenant_id, today)
            session.execute(
                update(UsageDayRow)
                .where(UsageDayRow.tenant_id == tenant_id, UsageDayRow.day == today)
                .values(items_stored=items, images_stored=images)
            )

    def usage(self, tenant: str, since: date, until: date) -> Usage:
        with self._session() as session:
            tenant_id = self._tenant_row(session, tenant).id
            rows = session.scalars(
                select(UsageDayRow)
                .where(UsageDayRow.tenant_id == tenant_id, UsageDayRow.day >= since, UsageDayRow.day <= until)
                .order_by(UsageDayRow.day)
            ).all()
            days = [
                UsageDay(r.day, r.searches, r.images_ingested, r.items_stored, r.images_stored) for r in rows
            ]
        return Usage(tenant, days)

    @staticmethod
    def _ensure_day(session: Session, tenant_id: int, day: date) -> None:
        """The day's row exists (another process may insert it at the same moment: a savepoint)."""
        exists = session.scalar(
            select(UsageDayRow.tenant_id).where(UsageDayRow.tenant_id == tenant_id, UsageDayRow.day == day)
        )
        if exists is not None:
            return
        previous = session.scalar(
            select(UsageDayRow)
            .where(UsageDayRow.tenant_id == tenant_id)
            .order_by(UsageDayRow.day.desc())
            .limit(1)
        )
        carried = (
            {"items_stored": previous.items_stored, "images_stored": previous.images_stored}
            if previous
            else {}
        )
        try:
            with session.begin_nested():
                session.add(
                    UsageDayRow(tenant_id=tenant_id, day=day, searches=0, images_ingested=0, **carried)
                )
        except IntegrityError:
            pass


class _OverAllowance(Exception):
    pass


def month_start(today: date) -> date:
    return today.replace(day=1)


__all__ = ["TenancyStore", "month_start"]
