"""Build the catalog's index from every stored region vector and publish it if it changed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index import IndexStore, IndexVersionError, VectorIndex
from lookalike.store import CatalogStore, RegionVectors


@dataclass(frozen=True, slots=True)
class PublishResult:
    version: str | None
    published: bool
    count: int


def same_as_current(
    index_store: IndexStore, catalog: str, payload: RegionVectors, model_spec: str, factory: str
) -> bool:
    """True when CURRENT already holds exactly these vectors (ids are never reused, so ids decide)."""
    version = index_store.current_version(catalog)
    if version is None:
        return False
    try:
        manifest, current = index_store.load(catalog, version)
    except IndexVersionError:
        return False  # corrupt or missing: publish a good one
    vectors, ids, items, categories = payload
    if manifest.model_spec != model_spec or manifest.factory != factory or current.dim != vectors.shape[1]:
        return False
    if not (
        np.array_equal(current.vector_ids, ids)
        and np.array_equal(current.item_ids, items)
        and np.array_equal(current.categories, categories)
    ):
        return False
    try:
        stored = current.index.reconstruct_n(0, current.count)
    except RuntimeError:
        return True  # this index type cannot hand vectors back; the ids already match
    return bool(np.allclose(stored, vectors, atol=1e-6))


def publish_catalog_index(
    store: CatalogStore,
    index_store: IndexStore,
    catalog: str,
    *,
    model_spec: str,
    factory: str,
    use_gpu: bool,
) -> PublishResult:
    payload = store.region_vectors(catalog, model_spec)
    vectors, ids, items, categories = payload
    if len(ids) == 0:
        return PublishResult(index_store.current_version(catalog), False, 0)
    if same_as_current(index_store, catalog, payload, model_spec, factory):
        return PublishResult(index_store.current_version(catalog), False, len(ids))
    index = VectorIndex.build(vectors, ids, items, categories, factory=factory, use_gpu=use_gpu)
    manifest = index_store.publish(catalog, index, model_spec=model_spec, factory=factory)
    return PublishResult(manifest.version, True, index.count)
