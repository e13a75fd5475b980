"""The per-vector payload that travels with an index: item id, category, brand, price, stock, attributes.

Text columns are dictionary-encoded (int32 codes into a UTF-8 vocabulary), so a filter over
a million rows is a few vectorised integer comparisons, and item ids cost bytes, not objects.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from index.filters import IN_STOCK, SearchFilter, canonical, stock_state

Mask = npt.NDArray[np.bool_]
MAX_VALUE_CHARS = 200
"""Longer attribute values (descriptions, free text) are not kept for filtering."""


@dataclass(frozen=True)
class Column:
    """Dictionary-encoded text; code -1 means "absent"."""

    codes: npt.NDArray[np.int32]
    vocab: npt.NDArray[np.bytes_]

    @staticmethod
    def encode(values: Iterable[str | None]) -> Column:
        index: dict[str, int] = {}
        codes = [-1 if v is None or v == "" else index.setdefault(v, len(index)) for v in values]
        return Column(np.asarray(codes, dtype=np.int32), _vocab_array(list(index)))

    @cached_property
    def _code_of(self) -> dict[str, int]:
        return {v.decode(): i for i, v in enumerate(self.vocab.tolist())}

    def __len__(self) -> int:
        return len(self.codes)

    def value(self, row: int) -> str:
        code = int(self.codes[row])
        return "" if code < 0 else bytes(self.vocab[code]).decode()

    @cached_property
    def _words(self) -> list[str]:
        return [v.decode() for v in self.vocab.tolist()] + [""]  # code -1 picks the trailing ""

    def values(self, rows: npt.NDArray[np.int64]) -> list[str]:
        """``value`` of many rows at once: the search path maps ~100 neighbours per request."""
        words = self._words
        return [words[c] for c in self.codes[rows].tolist()]

    def decode(self) -> npt.NDArray[np.str_]:
        """Every row as text ("" when absent)."""
        words = np.char.decode(np.append(self.vocab, b""), "utf-8") if len(self.vocab) else np.array([""])
        return np.asarray(words[np.where(self.codes < 0, len(self.vocab), self.codes)], dtype=np.str_)

    def isin(self, wanted: Collection[str]) -> Mask:
        codes = [self._code_of[w] for w in wanted if w in self._code_of]
        if not codes:
            return np.zeros(len(self.codes), dtype=bool)
        if len(codes) == 1:
            return self.codes == codes[0]
        return np.isin(self.codes, np.asarray(codes, dtype=np.int32))

    def take(self, rows: npt.NDArray[np.int64]) -> Column:
        return Column(self.codes[rows], self.vocab)

    @staticmethod
    def concat(parts: Sequence[Column]) -> Column:
        merged: dict[bytes, int] = {}
        out = []
        for part in parts:
            remap = np.asarray(
                [merged.setdefault(bytes(v), len(merged)) for v in part.vocab.tolist()] + [-1], dtype=np.int32
            )
            out.append(remap[np.where(part.codes < 0, len(part.vocab), part.codes)])
        codes = np.concatenate(out) if out else np.zeros(0, dtype=np.int32)
        vocab = np.asarray(list(merged), dtype=np.bytes_) if merged else np.zeros(0, dtype="S1")
        return Column(codes.astype(np.int32), vocab)

    @staticmethod
    def absent(n: int) -> Column:
        return Column(np.full(n, -1, dtype=np.int32), np.zeros(0, dtype="S1"))


def _vocab_array(words: list[str]) -> npt.NDArray[np.bytes_]:
    if not words:
        return np.zeros(0, dtype="S1")
    return np.asarray([w.encode() for w in words], dtype=np.bytes_)


@dataclass(frozen=True)
class Payload:
    """One row per indexed vector, in index row order."""

    vector_ids: npt.NDArray[np.int64]
    item: Column
    category: Column
    brand: Column
    price: npt.NDArray[np.float32]
    in_stock: npt.NDArray[np.int8]
    attributes: Mapping[str, Column] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.vector_ids)

    @staticmethod
    def build(
        vector_ids: npt.ArrayLike,
        item_ids: Sequence[str] | npt.NDArray[np.str_],
        categories: Sequence[str | None] | npt.NDArray[np.str_],
        *,
        brands: Sequence[str | None] | None = None,
        prices: Sequence[float | None] | None = None,
        attributes: Sequence[Mapping[str, Any]] | None = None,
    ) -> Payload:
        """Rows from plain per-vector values; ``attributes`` are the items' attribute dicts."""
        ids = np.asarray(vector_ids, dtype=np.int64)
        n = len(ids)
        if not (len(item_ids) == len(categories) == n):
            raise ValueError("vector ids, item ids and categories must have one row each")
        for name, values in (("brands", brands), ("prices", prices), ("attributes", attributes)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} must have one row per vector")
        price = np.full(n, np.nan, dtype=np.float32)
        if prices is not None:
            price[:] = [np.nan if p is None else float(p) for p in prices]
        stock = np.full(n, -1, dtype=np.int8)
        attrs: dict[str, Column] = {}
        if attributes is not None:
            stock[:] = [stock_state(a.get(IN_STOCK)) for a in attributes]
            names = sorted({k for a in attributes for k in a})
            for name in names:
                values = [_attr_text(a.get(name)) for a in attributes]
                if any(v is not None for v in values):
                    attrs[name] = Column.encode(values)
        return Payload(
            vector_ids=ids,
            item=Column.encode(str(i) for i in item_ids),
            category=Column.encode(str(c) if c is not None else None for c in categories),
            brand=Column.encode(canonical(b) for b in brands) if brands is not None else Column.absent(n),
            price=price,
            in_stock=stock,
            attributes=attrs,
        )

    @cached_property
    def item_ids(self) -> npt.NDArray[np.str_]:
        return self.item.decode()

    @cached_property
    def categories(self) -> npt.NDArray[np.str_]:
        return self.category.decode()

    def mask(self, flt: SearchFilter | None) -> Mask | None:
        """Rows the filter allows; None when it allows every row."""
        if flt is None or flt.empty:
            return None
        n = len(self)
        mask = np.ones(n, dtype=bool)
        if flt.categories:
            mask &= self.category.isin(flt.categories)
        if flt.brands:
            mask &= self.brand.isin(flt.brands)
        if flt.price_min is not None:
            mask &= self.price >= flt.price_min  # NaN (unknown price) compares False
        if flt.price_max is not None:
            mask &= self.price <= flt.price_max
        if flt.in_stock is True:
            mask &= self.in_stock == 1
        elif flt.in_stock is False:
            mask &= self.in_stock != 1
        for name, value in flt.attributes:
            column = self.attributes.get(name)
            mask &= column.isin((value,)) if column is not None else np.zeros(n, dtype=bool)
        return mask

    def take(self, rows: npt.NDArray[np.int64]) -> Payload:
        rows = np.asarray(rows, dtype=np.int64)
        return Payload(
            self.vector_ids[rows],
            self.item.take(rows),
            self.category.take(rows),
            self.brand.take(rows),
            self.price[rows],
            self.in_stock[rows],
            {k: c.take(rows) for k, c in self.attributes.items()},
        )

    @staticmethod
    def concat(parts: Sequence[Payload]) -> Payload:
        if not parts:
            return Payload.build([], [], [])
        names = sorted({k for p in parts for k in p.attributes})
        return Payload(
            np.concatenate([p.vector_ids for p in parts]).astype(np.int64),
            Column.concat([p.item for p in parts]),
            Column.concat([p.category for p in parts]),
            Column.concat([p.brand for p in parts]),
            np.concatenate([p.price for p in parts]).astype(np.float32),
            np.concatenate([p.in_stock for p in parts]).astype(np.int8),
            {
                name: Column.concat([p.attributes.get(name) or Column.absent(len(p)) for p in parts])
                for name in names
            },
        )

    def same_rows(
        self, rows: npt.NDArray[np.int64], other: Payload, other_rows: npt.NDArray[np.int64]
    ) -> Mask:
        """Row-by-row equality of ``self[rows]`` and ``other[other_rows]`` over every column."""
        a, b = self.take(rows), other.take(other_rows)
        same = (
            (a.item_ids == b.item_ids)
            & (a.categories == b.categories)
            & (a.brand.decode() == b.brand.decode())
        )
        same &= (a.price == b.price) | (np.isnan(a.price) & np.isnan(b.price))
        same &= a.in_stock == b.in_stock
        for name in set(a.attributes) | set(b.attributes):
            ca = a.attributes.get(name) or Column.absent(len(a))
            cb = b.attributes.get(name) or Column.absent(len(b))
            same &= ca.decode() == cb.decode()
        return np.asarray(same, dtype=bool)

    @property
    def nbytes(self) -> int:
        """Memory of the columns (what residency counts; decoded caches not included)."""
        return sum(int(a.nbytes) for a in self.to_arrays().values())

    # -- persistence ---------------------------------------------------------------------

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {
            "vector_ids": self.vector_ids,
            "price": self.price,
            "in_stock": self.in_stock,
            "attr_names": _vocab_array(list(self.attributes)),
        }
        for prefix, column in (("item", self.item), ("category", self.category), ("brand", self.brand)):
            out[f"{prefix}.codes"], out[f"{prefix}.vocab"] = column.codes, column.vocab
        for i, column in enumerate(self.attributes.values()):
            out[f"attr.{i}.codes"], out[f"attr.{i}.vocab"] = column.codes, column.vocab
        return out

    @staticmethod
    def from_arrays(arrays: Mapping[str, npt.NDArray[Any]]) -> Payload:
        """Read ``to_arrays`` output, or the first format (vector_ids, item_ids, categories only)."""
        if "item_ids" in arrays:
            return Payload.build(arrays["vector_ids"], arrays["item_ids"], arrays["categories"])

        def col(prefix: str) -> Column:
            return Column(np.asarray(arrays[f"{prefix}.codes"], dtype=np.int32), arrays[f"{prefix}.vocab"])

        names = [bytes(n).decode() for n in arrays["attr_names"].tolist()]
        return Payload(
            np.asarray(arrays["vector_ids"], dtype=np.int64),
            col("item"),
            col("category"),
            col("brand"),
            np.asarray(arrays["price"], dtype=np.float32),
            np.asarray(arrays["in_stock"], dtype=np.int8),
            {name: col(f"attr.{i}") for i, name in enumerate(names)},
        )


def _attr_text(value: object) -> str | None:
    text = canonical(value)
    return text if text is not None and len(text) <= MAX_VALUE_CHARS else None
