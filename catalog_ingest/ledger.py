"""Item metadata seen so far (this run or stored): the same item_id must not say two things."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from catalog import ItemRecord
from catalog.records import METADATA_FIELDS


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


class ItemLedger:
    """A blank field never conflicts: later rows of an item may omit or fill in metadata.

    With ``max_items`` it keeps only the items seen most recently: for a run that writes every
    accepted item as it goes, a forgotten item is in the store, and its next row is checked
    against the stored record (``add_stored``)."""

    def __init__(self, max_items: int | None = None) -> None:
        self._items: OrderedDict[str, ItemRecord] = OrderedDict()
        self._origin: dict[str, dict[str, str]] = {}
        self.max_items = max_items

    def _remember(self, record: ItemRecord, origin: dict[str, str]) -> None:
        self._items[record.item_id] = record
        self._origin[record.item_id] = origin
        while self.max_items is not None and len(self._items) > self.max_items:
            forgotten, _ = self._items.popitem(last=False)
            del self._origin[forgotten]

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._items

    def records(self, item_ids: list[str]) -> dict[str, ItemRecord]:
        """The merged metadata of these items, as this run's rows gave it."""
        return {i: self._items[i] for i in item_ids if i in self._items}

    def add_stored(self, record: ItemRecord) -> None:
        """What the catalog already holds for an item this run has not seen yet."""
        if record.item_id not in self._items:
            stored = replace(record, attributes=dict(record.attributes))
            self._remember(stored, dict.fromkeys(METADATA_FIELDS, "the catalog"))

    def conflict(self, record: ItemRecord) -> str | None:
        """Why this row disagrees with what is known about its item, or None."""
        known = self._items.get(record.item_id)
        if known is None:
            return None
        for name in METADATA_FIELDS:
            new, old = getattr(record, name), getattr(known, name)
            if new is not None and old is not None and not _same(new, old):
                origin = self._origin[record.item_id].get(name, "an earlier row")
                item = record.item_id
                return f"conflicting metadata for item {item!r}: {name} {new!r} here, {old!r} in {origin}"
        return None

    def accept(self, record: ItemRecord, where: str) -> ItemRecord:
        """Merge a non-conflicting row into the item (fills blanks, first attribute value wins)."""
        known = self._items.get(record.item_id)
        if known is None:
            merged = replace(record, attributes=dict(record.attributes))
            self._remember(merged, {n: where for n in METADATA_FIELDS if getattr(record, n) is not None})
            return merged
        self._items.move_to_end(record.item_id)
        origin = self._origin[record.item_id]
        for name in METADATA_FIELDS:
            if getattr(known, name) is None and getattr(record, name) is not None:
                setattr(known, name, getattr(record, name))
                origin[name] = where
        for key, value in record.attributes.items():
            known.attributes.setdefault(key, value)
        return known
