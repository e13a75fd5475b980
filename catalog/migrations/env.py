"""Alembic environment: run by ``CatalogStore.migrate()`` with a live connection (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from catalog.migrate import include_name
from catalog.models import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    # Developer use (e.g. `alembic revision --autogenerate`) with sqlalchemy.url set in a config.
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/lookalike.db")
    with engine.begin() as conn:
        run_with(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
