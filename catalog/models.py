"""The catalog schema as typed SQLAlchemy models: catalogs, items, images, item_images, regions.

Migrations in ``migrations/versions`` create exactly these tables; the models are for queries.
An item's metadata columns are generated from the one declaration of its fields
(``lookalike.items.ItemRecord``); ``tests/test_store.py`` checks the models against the migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from lookalike.items import METADATA_TYPES

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Catalog(Base):
    __tablename__ = "catalogs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


SQL_TYPES: dict[type, type[TypeEngine[Any]]] = {str: String, float: Float, int: Integer}


def _metadata_columns() -> dict[str, Any]:
    """One nullable column per metadata field of ``ItemRecord``, in declaration order."""
    return {name: mapped_column(SQL_TYPES[kind]) for name, kind in METADATA_TYPES.items()}


ItemMetadataColumns: type = type("ItemMetadataColumns", (), _metadata_columns())
"""A mixin holding the generated metadata columns (title, brand, ...); read them by name
(``getattr(Item, name)`` for ``name in METADATA_FIELDS``)."""


class Item(Base, ItemMetadataColumns):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("catalog_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Image(Base):
    """One distinct image (by content hash) of a catalog; ``source`` is where it was first read."""

    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("catalog_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalog_id: Mapped[int] = mapped_column(ForeignKey("catalogs.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class ItemImage(Base):
    """Links an item to its reference images; ``position`` 0 is the item's primary image."""

    __tablename__ = "item_images"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class RegionRow(Base):
    """A detected region of an image and its vector; ``id`` is the FAISS vector id.

    ``category`` is the detector's category (NULL when it has none: the item's category
    applies). Ids are never reused (AUTOINCREMENT), so an id always names the same vector.
    """

    __tablename__ = "regions"
    __table_args__ = (
        Index("ix_regions_image_id_model_spec", "image_id", "model_spec"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String)
    score: Mapped[float] = mapped_column(Float)
    detector_spec: Mapped[str] = mapped_column(String)
    model_spec: Mapped[str] = mapped_column(String)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
