"""Run the job queue's Alembic migrations on a live engine (own version table, own lock)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from catalog.migrate import _file_lock

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "jobs_alembic_version"
PG_MIGRATION_LOCK_KEY = 0x10B5_0B5


def upgrade_to_head(engine: Engine) -> None:
    """``alembic upgrade head`` for the jobs table, one process at a time (see ``catalog.migrate``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
