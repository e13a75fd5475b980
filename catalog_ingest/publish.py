"""Bring a catalog's index in line with the store: nothing, a delta segment, or a full rebuild.

The payload carries what search filters on (item, category, brand, price, stock, attributes),
so filtering never needs a database round trip. A small change to a big index becomes a
delta segment (visible to running servers within a second); otherwise a new base version
is built with the index the builder picks for the catalog's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from catalog import CatalogStore
from index import IndexStore, IndexVersionError, LiveIndex, Payload, plan_index
from lookalike.settings import IndexSettings

OWNERS_READ_BY_ID = 50_000
"""Up to this many items own the index's vectors, their rows are read by id, not the whole
catalog's: a million items sharing a few thousand photos never sit in memory at once."""


@dataclass(frozen=True, slots=True)
class PublishResult:
    version: str | None
    published: bool
    count: int
    mode: str = "unchanged"
    """"full" (new base version), "delta" (segment on the live base) or "unchanged"."""


@dataclass(frozen=True)
class Diff:
    """What turns the live rows into the wanted ones: ids to tombstone, wanted rows to (re)add."""

    removed: npt.NDArray[np.int64]
    add_rows: npt.NDArray[np.int64]

    def __bool__(self) -> bool:
        return bool(len(self.removed) or len(self.add_rows))


def catalog_payload(
    store: CatalogStore,
    catalog: str,
    model_spec: str,
    item_ids: Sequence[str] | None = None,
    *,
    with_vectors: bool = True,
) -> tuple[npt.NDArray[np.float32], Payload]:
    """The region vectors of a catalog (or of some items) and their payload rows; without
    ``with_vectors``, an (n, 0) array in place of the vectors."""
    vectors, ids, items, categories = store.region_vectors(
        catalog, model_spec, item_ids, with_vectors=with_vectors
    )
    owners = sorted(set(items.tolist()))
    by_id = item_ids is not None or len(owners) <= OWNERS_READ_BY_ID
    records = store.item_records(catalog, owners if by_id else None)
    owners = [records.get(str(i)) for i in items]
    payload = Payload.build(
        ids,
        items,
        categories,
        brands=[r.brand if r else None for r in owners],
        prices=[r.price if r else None for r in owners],
        attributes=[r.attributes if r else {} for r in owners],
    )
    return vectors, payload


def diff_rows(live: Payload, wanted: Payload) -> Diff:
    """Ids in ``live`` but not wanted, and the wanted rows that are new or whose payload changed.

    Region ids are never reused, so an id present on both sides has the same vector.
    """
    common, live_idx, wanted_idx = np.intersect1d(live.vector_ids, wanted.vector_ids, return_indices=True)
    same = live.same_rows(live_idx.astype(np.int64), wanted, wanted_idx.astype(np.int64))
    removed = np.setdiff1d(live.vector_ids, wanted.vector_ids)
    new = np.flatnonzero(~np.isin(wanted.vector_ids, common))
    add_rows = np.sort(np.concatenate([new, wanted_idx[~same]])).astype(np.int64)
    return Diff(removed.astype(np.int64), add_rows)


def _live(index_store: IndexStore, catalog: str, model_spec: str) -> LiveIndex | None:
    try:
        return index_store.load_live(catalog, model_spec=model_spec)
    except IndexVersionError:
        return None  # none, corrupt or another model: build a good one


def publish_catalog_index(
    store: CatalogStore,
    index_store: IndexStore,
    catalog: str,
    *,
    model_spec: str,
    factory: str,
    use_gpu: bool,
    settings: IndexSettings | None = None,
) -> PublishResult:
    s = (settings or IndexSettings()).model_copy(update={"factory": factory})
    # The payload first, without the vectors: an unchanged catalog or a small change to a big
    # one reads only the vectors it adds, not all of them (a million 1280-d rows are 5 GB).
    _, payload = catalog_payload(store, catalog, model_spec, with_vectors=False)
    if len(payload) == 0:
        return PublishResult(index_store.live_version(catalog), False, 0)
    live = _live(index_store, catalog, model_spec)
    if live is not None and live.base.plan.requested == s.factory:
        diff = diff_rows(live.live_payload(), payload)
        if not diff:
            return PublishResult(live.version, False, len(payload))
        pending = live.delta_rows + live.deleted + len(diff.add_rows) + len(diff.removed)
        base = live.base.count
        if base >= s.delta_min_base and pending <= s.delta_max_fraction * base:
            added = store.vectors_of(payload.vector_ids[diff.add_rows])
            if len(added) == 0 or added.shape[1] == live.dim:
                version = index_store.append_delta(
                    catalog,
                    diff.removed,
                    added.reshape(len(added), live.dim),
                    payload.take(diff.add_rows),
                    base=live.base_version,
                )
                return PublishResult(version, True, len(payload), "delta")
    vectors, payload = catalog_payload(store, catalog, model_spec)  # a rebuild reads them all, in one scan
    plan = plan_index(
        len(payload),
        vectors.shape[1],
        factory=s.factory,
        memory_budget_mb=s.memory_budget_mb,
        pca_dim=s.pca_dim,
    )
    manifest = index_store.build_and_publish(
        catalog, vectors, payload, plan, model_spec=model_spec, use_gpu=use_gpu
    )
    return PublishResult(manifest.version, True, len(payload), "full")


def sync_items(
    store: CatalogStore, index_store: IndexStore, catalog: str, item_ids: Sequence[str], *, model_spec: str
) -> PublishResult:
    """Make the index agree with the store for these items only (added, updated or deleted ones):
    one delta segment, no full read of the catalog."""
    live = index_store.load_live(catalog, model_spec=model_spec)
    current = live.live_payload()
    mine = np.flatnonzero(current.item.isin(set(item_ids)))
    vectors, wanted = catalog_payload(store, catalog, model_spec, item_ids)
    diff = diff_rows(current.take(mine), wanted)
    if not diff:
        return PublishResult(live.version, False, live.count)
    version = index_store.append_delta(
        catalog, diff.removed, vectors[diff.add_rows], wanted.take(diff.add_rows), base=live.base_version
    )
    new_ids = np.setdiff1d(wanted.vector_ids[diff.add_rows], current.vector_ids)
    return PublishResult(version, True, live.count - len(diff.removed) + len(new_ids), "delta")
