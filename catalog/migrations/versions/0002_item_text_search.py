"""Full-text search over items: title, brand, category and attributes.

SQLite: an FTS5 table over ``items`` (external content, unicode61 without diacritics), kept in
step by triggers, and filled from the rows already there. PostgreSQL: a GIN index on the
weighted ``tsvector`` expression that ``catalog.text_search`` queries (the 'simple'
configuration: product names and brands are not English words to stem).

A later migration that rebuilds ``items`` in SQLite batch mode drops these triggers: it must
create them again (``SQLITE_UP``) and ``rebuild`` the FTS table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COLUMNS = "title, brand, category, attributes"
SQLITE_UP = [
    f"CREATE VIRTUAL TABLE items_fts USING fts5({COLUMNS}, content='items', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN "
    f"INSERT INTO items_fts(rowid, {COLUMNS}) "
    "VALUES (new.id, new.title, new.brand, new.category, new.attributes); END",
    f"CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN "
    f"INSERT INTO items_fts(items_fts, rowid, {COLUMNS}) "
    "VALUES ('delete', old.id, old.title, old.brand, old.category, old.attributes); END",
    f"CREATE TRIGGER items_fts_update AFTER UPDATE ON items BEGIN "
    f"INSERT INTO items_fts(items_fts, rowid, {COLUMNS}) "
    "VALUES ('delete', old.id, old.title, old.brand, old.category, old.attributes); "
    f"INSERT INTO items_fts(rowid, {COLUMNS}) "
    "VALUES (new.id, new.title, new.brand, new.category, new.attributes); END",
    "INSERT INTO items_fts(items_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS items_fts_update",
    "DROP TRIGGER IF EXISTS items_fts_delete",
    "DROP TRIGGER IF EXISTS items_fts_insert",
    "DROP TABLE IF EXISTS items_fts",
]
# The same expression as catalog.text_search.PG_DOCUMENT, frozen here as this revision made it.
PG_DOCUMENT = (
    "setweight(to_tsvector('simple'::regconfig, coalesce(brand, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(category, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(attributes::text, '')), 'C')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_items_text_search ON items USING gin (({PG_DOCUMENT}))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_text_search")
