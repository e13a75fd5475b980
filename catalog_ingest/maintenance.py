"""Change a published catalog in place: delete items, update an item's metadata, re-sync the index.

These write catalog rows and then bring the index in line with them (a delta segment that
running servers pick up within a second), so they live with the other writers of catalog rows,
not in the index stage, which never touches the catalog.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import Any

from catalog import CatalogStore, ItemRecord
from catalog_ingest.parts import IngestParts
from catalog_ingest.publish import PublishResult, publish_catalog_index, sync_items
from index import IndexStore
from lookalike.errors import UnknownCatalogError
from lookalike.settings import IndexSettings


def live_model_spec(index_store: IndexStore, catalog: str) -> str:
    """The embedder the catalog's live index was built with (its vectors are that model's)."""
    base = index_store.current_version(catalog)
    if base is None:
        raise UnknownCatalogError(f"catalog {catalog!r} has no published index; run `lookalike ingest` first")
    return index_store.read_manifest(catalog, base).model_spec


def delete_items(
    store: CatalogStore, index_store: IndexStore, catalog: str, item_ids: Sequence[str]
) -> tuple[list[str], PublishResult]:
    """Delete items from the catalog and hide them from search (a tombstone segment); returns the
    ids that were found and deleted, and the index now served."""
    model_spec = live_model_spec(index_store, catalog)
    deleted = store.delete_items(catalog, item_ids)
    return deleted, sync_items(store, index_store, catalog, item_ids, model_spec=model_spec)


def update_item(
    store: CatalogStore, index_store: IndexStore, catalog: str, item_id: str, changes: dict[str, Any]
) -> tuple[ItemRecord, PublishResult]:
    """Overwrite an item's metadata (see ``CatalogStore.update_item``); filters see it at once."""
    model_spec = live_model_spec(index_store, catalog)
    record = store.update_item(catalog, item_id, changes)
    return record, sync_items(store, index_store, catalog, [item_id], model_spec=model_spec)


def remove_catalog(parts: IngestParts, catalog: str) -> None:
    """Delete a catalog: its rows, then its index versions and uploaded images (a server that
    still holds the index finds the catalog gone and answers 404)."""
    parts.store.delete_catalog(catalog)
    shutil.rmtree(parts.index_store.catalog_dir(catalog), ignore_errors=True)
    shutil.rmtree(parts.settings.data_dir / "uploads" / catalog, ignore_errors=True)


def sync_catalog(
    store: CatalogStore,
    index_store: IndexStore,
    catalog: str,
    settings: IndexSettings,
    item_ids: Sequence[str] | None = None,
) -> PublishResult:
    """Bring the index in line with the catalog rows: a delta segment for a few items, else what
    a publish decides (nothing, a segment or a rebuild)."""
    model_spec = live_model_spec(index_store, catalog)
    if item_ids:
        return sync_items(store, index_store, catalog, item_ids, model_spec=model_spec)
    return publish_catalog_index(
        store,
        index_store,
        catalog,
        model_spec=model_spec,
        factory=settings.factory,
        use_gpu=settings.use_gpu == "auto",
        settings=settings,
    )


__all__ = ["delete_items", "live_model_spec", "remove_catalog", "sync_catalog", "update_item"]
