"""A catalog that follows its feed: ``upsert`` updates the items a manifest names, ``sync`` also
removes the items it no longer names. ``add`` (the default) is the original additive load.

Changed metadata of an item already stored is not written batch by batch: the changes, the
dropped image links and the removals are applied in ONE transaction at the end of the run, just
before the index is published once, so a search never sees half of a feed. Photos that did not
change are never embedded again (their bytes are already in the catalog).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

from catalog import CatalogStore, ItemRecord
from catalog.records import METADATA_FIELDS
from lookalike.errors import ManifestError, UnknownCatalogError

FeedMode = Literal["add", "upsert", "sync"]
FEED_MODES: tuple[str, ...] = get_args(FeedMode)
DEFAULT_MAX_REMOVE = 0.2
"""``sync`` refuses to remove more than this share of a catalog unless told otherwise."""


def same_item(a: ItemRecord, b: ItemRecord) -> bool:
    for name in METADATA_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                return False
        elif x != y:
            return False
    return dict(a.attributes) == dict(b.attributes)


@dataclass
class FeedState:
    """What a feed run remembers across batches about the items it names."""

    mode: FeedMode
    removals: list[str] = field(default_factory=list)
    stored: dict[str, ItemRecord] = field(default_factory=dict)
    stored_shas: dict[str, set[str]] = field(default_factory=dict)
    run_shas: dict[str, set[str]] = field(default_factory=dict)
    rejected_items: set[str] = field(default_factory=set)

    @property
    def follows_feed(self) -> bool:
        return self.mode != "add"

    def remember_stored(self, store: CatalogStore, catalog: str, records: dict[str, ItemRecord]) -> None:
        self.stored.update(records)
        shas = store.item_image_shas(catalog, list(records))
        for item_id in records:
            self.stored_shas[item_id] = shas.get(item_id, set())

    def linked(self, item_id: str, sha: str) -> None:
        if self.follows_feed:  # only a feed run compares an item's images with the stored ones
            self.run_shas.setdefault(item_id, set()).add(sha)


def planned_removals(
    store: CatalogStore, catalog: str, named: Iterable[str], *, max_remove: float
) -> list[str]:
    """The stored items a ``sync`` would remove: those no manifest row names (a rejected row still
    names its item, so a photo that failed to download never deletes it). Over ``max_remove`` of
    the catalog, nothing is done: a truncated feed must not empty a catalog."""
    try:
        stored = set(store.item_records(catalog))
    except UnknownCatalogError:
        return []
    gone = sorted(stored - set(named))
    if stored and len(gone) > max_remove * len(stored):
        raise ManifestError(
            f"sync would remove {len(gone)} of the {len(stored)} items of catalog {catalog!r} "
            f"({len(gone) / len(stored):.0%}, over the limit of {max_remove:.0%}); nothing was changed. "
            "If the feed really dropped them, pass --max-remove with a higher share (1 allows all)."
        )
    return gone


@dataclass(frozen=True)
class FeedOutcome:
    added: int
    updated: int
    removed: int
    unchanged: int


def apply_feed(
    store: CatalogStore, catalog: str, feed: FeedState, merged: dict[str, ItemRecord], loaded: Sequence[str]
) -> FeedOutcome:
    """Write what changed for the items already stored, and the removals, in one transaction."""
    updates: list[ItemRecord] = []
    keep: dict[str, set[str]] = {}
    added = updated = unchanged = 0
    for item_id in loaded:
        before = feed.stored.get(item_id)
        if before is None:
            added += 1
            continue
        now = merged[item_id]
        shas = feed.run_shas.get(item_id, set())
        old_shas = feed.stored_shas.get(item_id, set())
        photos_changed = bool(shas - old_shas)
        if feed.mode == "sync" and item_id not in feed.rejected_items and old_shas - shas:
            keep[item_id] = shas
            photos_changed = True
        if not same_item(now, before):
            updates.append(now)
        if photos_changed or not same_item(now, before):
            updated += 1
        else:
            unchanged += 1
    removals = feed.removals if feed.mode == "sync" else []
    if updates or keep or removals:
        store.apply_feed(catalog, updates, removals, keep)
    return FeedOutcome(added, updated, len(removals), unchanged)


__all__ = [
    "DEFAULT_MAX_REMOVE",
    "FEED_MODES",
    "FeedMode",
    "FeedOutcome",
    "FeedState",
    "apply_feed",
    "planned_removals",
    "same_item",
]
