"""The tenancy migration upgrades a database that is at the revision before it (rows kept), and
downgrades cleanly, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from catalog.migrate import alembic_config
from catalog.store import normalise_url

TENANCY_TABLES = {"plans", "tenants", "api_keys", "tenant_catalogs", "usage_days", "rate_limits"}


def _to(url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(normalise_url(url))
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_upgrade_from_the_revision_before_keeps_rows_and_adds_the_tables(empty_database_url: str) -> None:
    _to(empty_database_url, "0002")
    engine = create_engine(normalise_url(empty_database_url))
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO catalogs (name, created_at) VALUES ('legacy', CURRENT_TIMESTAMP)"))
    assert not TENANCY_TABLES & set(inspect(engine).get_table_names())
    _to(empty_database_url, "head")
    assert set(inspect(engine).get_table_names()) >= TENANCY_TABLES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM catalogs")).scalars().all() == ["legacy"]
    _to(empty_database_url, "0002", down=True)
    assert not TENANCY_TABLES & set(inspect(engine).get_table_names())
    _to(empty_database_url, "head")
    engine.dispose()
