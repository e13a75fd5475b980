"""Run the packaged Alembic migrations on a live engine, without an alembic.ini."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from catalog.models import Base
from catalog.text_search import is_text_search_object

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """Config pointing at the migrations shipped inside this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What autogenerate compares: the catalog's own tables, without the text search objects.

    The database is shared with other wings (the job queue keeps its own tables and Alembic
    chain), so a table no catalog model declares is theirs, not a drift; the text search
    objects of the text search migration have no model either.
    """
    if type_ == "table" and name not in Base.metadata.tables:
        return False
    return not is_text_search_object(name, type_)


# Any constant: every lookalike process takes the same PostgreSQL advisory lock to migrate.
PG_MIGRATION_LOCK_KEY = 0x100C_A11CE


def upgrade_to_head(engine: Engine) -> None:
    """``alembic upgrade head`` in one transaction, one process at a time.

    Several workers or replicas start together; without a lock two of them both create
    ``alembic_version`` and one fails. PostgreSQL: a transaction-scoped advisory lock.
    SQLite: an exclusive file lock beside the database file.
    """
    cfg = alembic_config()
    with _file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
