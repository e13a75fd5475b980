"""A catalog item's fields, declared once, and the one function that builds an item's image URL.

``ItemRecord`` is the declaration: the ORM model generates its columns from it
(``catalog.models``), the store reads and writes it, ``CatalogItem`` (what search returns)
extends it with the public image link, and the API schemas are generated from that
(``api.schemas``). A new item field is one line here plus a migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import NoneType, UnionType
from typing import Any, get_args, get_type_hints
from urllib.parse import quote

REMOTE_SCHEMES = ("http://", "https://")


@dataclass(slots=True)
class ItemRecord:
    """An item's stored metadata (what ingest writes and compares; ``None`` = not given)."""

    item_id: str = field(metadata={"description": "The item's id in its catalog."})
    title: str | None = None
    brand: str | None = None
    category: str | None = field(default=None, metadata={"description": "The catalog's category."})
    price: float | None = None
    currency: str | None = None
    url: str | None = field(default=None, metadata={"description": "The item's product page."})
    attributes: dict[str, Any] = field(
        default_factory=dict, metadata={"description": "Any other manifest columns (filterable)."}
    )


@dataclass(slots=True)
class CatalogItem(ItemRecord):
    """A catalog item as search and the API hand it out: the record and where its image is."""

    image_url: str | None = field(
        default=None,
        metadata={"description": "The item's primary image: its remote URL, or this server's image route."},
    )


METADATA_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(ItemRecord) if f.name not in ("item_id", "attributes")
)
"""The plain columns of an item (title, brand, ...): they must agree across manifest rows naming
the same item, and ``lookalike index update`` may overwrite them; anything else is an attribute."""


def _value_type(annotation: Any) -> type:
    """``str | None`` -> ``str``."""
    if isinstance(annotation, UnionType):
        (annotation,) = [a for a in get_args(annotation) if a is not NoneType]
    assert isinstance(annotation, type)
    return annotation


METADATA_TYPES: dict[str, type] = {
    name: _value_type(hint) for name, hint in get_type_hints(ItemRecord).items() if name in METADATA_FIELDS
}
"""The value type of each metadata field (``price``: float, the others: str); every one may be None."""


def item_image_url(catalog: str, item_id: str, source: str | None, position: int | None = None) -> str | None:
    """Where a client gets an item's image, given where ingest read it (``source``): a remote URL
    as it is, else this server's image route (a local path is never shown): the primary image's,
    or with ``position`` that reference image's. The route is relative to the API root; the API
    prefixes its own base URL."""
    if source is None:
        return None
    if source.startswith(REMOTE_SCHEMES):
        return source
    item = f"/v1/catalogs/{quote(catalog, safe='')}/items/{quote(item_id, safe='/')}"
    return f"{item}/image" if position is None else f"{item}/images/{position}"


__all__ = [
    "METADATA_FIELDS",
    "METADATA_TYPES",
    "REMOTE_SCHEMES",
    "CatalogItem",
    "ItemRecord",
    "item_image_url",
]
