"""Alembic environment of the job queue: run by ``jobs.migrate`` with a live connection."""

from __future__ import annotations

from alembic import context

from jobs.migrate import VERSION_TABLE
from jobs.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
