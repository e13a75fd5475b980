"""Upsert items sent over HTTP: the same pipeline as ``lookalike ingest``, on a manifest of their own.

Uploaded image bytes are kept under ``data_dir/uploads/<catalog>/<sha256>`` (the catalog's
reference images must outlive the request); URLs are fetched by ingest as in any manifest. An
existing item's metadata is replaced by what is sent (a manifest load only fills blanks), and
the images sent are added to the item's.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from catalog import ItemRecord
from catalog_ingest.maintenance import update_item
from catalog_ingest.parts import IngestParts
from catalog_ingest.pipeline import ingest_manifest
from catalog_ingest.report import IngestReport
from lookalike.errors import InvalidParameterError
from lookalike.imaging import sha256_hex
from lookalike.items import METADATA_FIELDS


@dataclass(frozen=True, slots=True)
class ImageInput:
    """One reference image: its bytes, or a URL to fetch."""

    data: bytes | None = None
    url: str | None = None


@dataclass(frozen=True)
class ItemUpsert:
    record: ItemRecord
    images: Sequence[ImageInput] = field(default_factory=tuple)


def uploads_dir(parts: IngestParts, catalog: str) -> Path:
    """Where uploaded reference images of the catalog are kept (``remove_catalog`` deletes it)."""
    return parts.settings.data_dir / "uploads" / catalog


def _image_value(image: ImageInput, folder: Path) -> str:
    if image.url is not None:
        return image.url
    assert image.data is not None
    path = folder / sha256_hex(image.data)
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(image.data)
        tmp.replace(path)
    return str(path.resolve())


def _replace_metadata(parts: IngestParts, catalog: str, upsert: ItemUpsert, stored: ItemRecord) -> None:
    record = upsert.record
    changes: dict[str, object] = {name: getattr(record, name) for name in METADATA_FIELDS}
    changes |= {name: None for name in stored.attributes if name not in record.attributes}
    changes |= record.attributes
    current = {name: getattr(stored, name) for name in METADATA_FIELDS} | stored.attributes
    if any(current.get(name) != value for name, value in changes.items()):
        if parts.index_store.current_version(catalog) is None:
            parts.store.update_item(catalog, record.item_id, changes)
        else:
            update_item(parts.store, parts.index_store, catalog, record.item_id, changes)


def upsert_items(parts: IngestParts, catalog: str, items: Sequence[ItemUpsert]) -> IngestReport:
    """Create or update these items of an existing catalog and publish its index.

    A new item needs at least one image. Rows whose image cannot be fetched or decoded are in
    the report's rejects, as in a manifest load."""
    parts.store.get_catalog(catalog)  # raises for an unknown catalog
    stored = parts.store.find_items(catalog, [u.record.item_id for u in items])
    missing = [u.record.item_id for u in items if not u.images and u.record.item_id not in stored]
    if missing:
        raise InvalidParameterError(f"new item {missing[0]!r} needs at least one image (bytes or url)")
    for upsert in items:
        if upsert.record.item_id in stored:
            _replace_metadata(parts, catalog, upsert, stored[upsert.record.item_id])
    folder = uploads_dir(parts, catalog)
    rows = [
        {
            "item_id": u.record.item_id,
            "image": _image_value(image, folder),
            **{name: getattr(u.record, name) for name in METADATA_FIELDS},
            **u.record.attributes,
        }
        for u in items
        for image in u.images
    ]
    if not rows:
        return IngestReport(catalog=catalog, index_version=parts.index_store.live_version(catalog))
    with tempfile.TemporaryDirectory(prefix="lookalike-upsert-") as tmp:
        manifest = Path(tmp) / "items.jsonl"
        manifest.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return ingest_manifest(
            parts, manifest, catalog, rejects_path=Path(tmp) / "rejects.csv", progress=False
        )


__all__ = ["ImageInput", "ItemUpsert", "uploads_dir", "upsert_items"]
