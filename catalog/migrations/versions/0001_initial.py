"""Initial catalog schema: catalogs, items, images, item_images, regions.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalogs"),
        sa.UniqueConstraint("name", name="uq_catalogs_name"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("catalog_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=True),
        sa.Column("brand", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(), nullable=True),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"], ["catalogs.id"], name="fk_items_catalog_id_catalogs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        sa.UniqueConstraint("catalog_id", "item_id", name="uq_items_catalog_id"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("catalog_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_id"], ["catalogs.id"], name="fk_images_catalog_id_catalogs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.UniqueConstraint("catalog_id", "sha256", name="uq_images_catalog_id"),
    )
    op.create_index("ix_images_sha256", "images", ["sha256"])
    op.create_table(
        "item_images",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_item_images_item_id_items", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name="fk_item_images_image_id_images", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", "image_id", name="pk_item_images"),
    )
    op.create_index("ix_item_images_image_id", "item_images", ["image_id"])
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("detector_spec", sa.String(), nullable=False),
        sa.Column("model_spec", sa.String(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name="fk_regions_image_id_images", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_regions"),
        # Vector ids must never be reused after a delete: FAISS payloads name them.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_regions_image_id_model_spec", "regions", ["image_id", "model_spec"])


def downgrade() -> None:
    op.drop_index("ix_regions_image_id_model_spec", table_name="regions")
    op.drop_table("regions")
    op.drop_index("ix_item_images_image_id", table_name="item_images")
    op.drop_table("item_images")
    op.drop_index("ix_images_sha256", table_name="images")
    op.drop_table("images")
    op.drop_table("items")
    op.drop_table("catalogs")
