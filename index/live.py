"""What a search sees: a base version plus its delta segments, merged at query time.

A delta segment removes vector ids from every earlier layer (tombstones: the base and older
segments) and adds rows of its own; re-adding an id with a new payload is an update. Deleted
rows are masked out of the base search, so a deleted item is never returned; the delta rows
(few, by design: compaction folds them into a new base) are searched exactly.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from index.filters import SearchFilter
from index.payload import Mask, Payload
from index.vector_index import Hits, VectorIndex, empty_hits, exact_knn, top_k
from lookalike.types import Neighbour, Vectors

POST_FILTER_MAX_DEAD = 64
"""With at most this many deleted base rows, over-fetch and drop them instead of using a selector."""
MASK_CACHE = 64


class SearchableIndex(Protocol):
    """What the search pipeline needs from an index: ``LiveIndex`` (served) or ``VectorIndex``."""

    def search(
        self,
        queries: Vectors,
        k: int,
        *,
        categories: Collection[str] | None = None,
        filter: SearchFilter | None = None,
    ) -> list[list[Neighbour]]: ...

    def item_of(self, vector_id: int) -> str: ...

    def items_of(self, vector_ids: Sequence[int]) -> list[str]: ...

    def item_vectors(self, item_id: str) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class DeltaSegment:
    """One append-only change set, applied on top of everything before it."""

    seq: int
    removed: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    payload: Payload

    @property
    def touched(self) -> npt.NDArray[np.int64]:
        """Ids this segment hides in earlier layers: the removed ones and the ones it re-adds."""
        return np.union1d(self.removed, self.payload.vector_ids)


class LiveIndex:
    """A base ``VectorIndex`` with tombstones and delta rows; immutable once built."""

    def __init__(
        self,
        base: VectorIndex,
        base_version: str,
        segments: Sequence[DeltaSegment] = (),
        *,
        _from: LiveIndex | None = None,
    ) -> None:
        self.base = base
        self.base_version = base_version
        dim = base.dim
        if _from is None:
            self.seq = 0
            self.base_dead = np.zeros(base.count, dtype=bool)
            self.delta_vectors = np.zeros((0, dim), dtype=np.float32)
            self.delta_payload = Payload.build([], [], [])
            self.delta_dead = np.zeros(0, dtype=bool)
        else:
            self.seq = _from.seq
            self.base_dead = _from.base_dead.copy()
            self.delta_vectors = _from.delta_vectors
            self.delta_payload = _from.delta_payload
            self.delta_dead = _from.delta_dead.copy()
        added_vectors, added_payloads = [self.delta_vectors], [self.delta_payload]
        for segment in sorted(segments, key=lambda s: s.seq):
            if segment.seq <= self.seq:
                continue
            if segment.vectors.shape[1:] != (dim,) and len(segment.vectors):
                raise ValueError(
                    f"delta segment {segment.seq} has {segment.vectors.shape[1]}-d vectors, not {dim}"
                )
            touched = segment.touched
            rows = base.rows_of(touched)
            self.base_dead[rows[rows >= 0]] = True
            delta_ids = np.concatenate([p.vector_ids for p in added_payloads])
            self.delta_dead |= np.isin(delta_ids, touched)
            added_vectors.append(np.asarray(segment.vectors, dtype=np.float32).reshape(-1, dim))
            added_payloads.append(segment.payload)
            self.delta_dead = np.concatenate([self.delta_dead, np.zeros(len(segment.payload), dtype=bool)])
            self.seq = segment.seq
        if len(added_payloads) > 1:
            self.delta_vectors = np.ascontiguousarray(np.concatenate(added_vectors), dtype=np.float32)
            self.delta_payload = Payload.concat(added_payloads)
        alive = np.flatnonzero(~self.delta_dead)
        self._delta_row_of = {int(self.delta_payload.vector_ids[r]): int(r) for r in alive}
        self._dead_rows = np.flatnonzero(self.base_dead)
        self._masks: dict[SearchFilter | None, tuple[Mask | None, Mask]] = {}

    def with_segments(self, segments: Sequence[DeltaSegment]) -> LiveIndex:
        """This index with newer segments applied; the base (and its memory) is shared."""
        return LiveIndex(self.base, self.base_version, segments, _from=self)

    # -- what the search pipeline uses ------------------------------------------------------

    @property
    def version(self) -> str:
        return self.base_version if self.seq == 0 else f"{self.base_version}+{self.seq}"

    @property
    def dim(self) -> int:
        return self.base.dim

    @property
    def count(self) -> int:
        """Live vectors: base rows not deleted plus delta rows not superseded."""
        return int(self.base.count - len(self._dead_rows) + len(self._delta_row_of))

    @property
    def nbytes(self) -> int:
        """Memory of this state: the base version and the delta rows on top of it."""
        return (
            self.base.nbytes
            + int(self.base_dead.nbytes + self.delta_vectors.nbytes + self.delta_dead.nbytes)
            + self.delta_payload.nbytes
        )

    @property
    def deleted(self) -> int:
        return len(self._dead_rows)

    @property
    def delta_rows(self) -> int:
        return len(self._delta_row_of)

    def item_of(self, vector_id: int) -> str:
        row = self._delta_row_of.get(int(vector_id))
        if row is not None:
            return self.delta_payload.item.value(row)
        return self.base.item_of(vector_id)

    def items_of(self, vector_ids: Sequence[int]) -> list[str]:
        """``item_of`` for many ids: segment rows first, the rest from the base in one pass."""
        in_delta = [self._delta_row_of.get(int(v)) for v in vector_ids]
        from_base = iter(
            self.base.items_of([v for v, row in zip(vector_ids, in_delta, strict=True) if row is None])
        )
        return [
            self.delta_payload.item.value(row) if row is not None else next(from_base) for row in in_delta
        ]

    def item_vectors(self, item_id: str) -> npt.NDArray[np.float32]:
        """The live vectors of one item: base rows not deleted, then its delta rows."""
        rows = self.base.item_rows(item_id)
        rows = rows[~self.base_dead[rows]]
        delta = np.flatnonzero(self.delta_payload.item.isin([item_id]) & ~self.delta_dead)
        return np.ascontiguousarray(
            np.concatenate([self.base.exact_rows(rows), self.delta_vectors[delta]]), dtype=np.float32
        )

    def category_of(self, vector_id: int) -> str:
        row = self._delta_row_of.get(int(vector_id))
        if row is not None:
            return self.delta_payload.category.value(row)
        return self.base.category_of(vector_id)

    def search(
        self,
        queries: Vectors,
        k: int,
        *,
        categories: Collection[str] | None = None,
        filter: SearchFilter | None = None,
    ) -> list[list[Neighbour]]:
        flt = SearchFilter.combine(filter, categories)
        queries = np.atleast_2d(np.ascontiguousarray(queries, dtype=np.float32))
        if len(queries) == 0 or k <= 0:
            return [[] for _ in range(len(queries))]
        base_allowed, delta_allowed = self._allowed(None if flt.empty else flt)
        n_base = self.base.count
        if base_allowed is None and 0 < len(self._dead_rows) <= POST_FILTER_MAX_DEAD:
            scores, rows = self.base.search_rows(queries, k + len(self._dead_rows))
            rows = np.where((rows >= 0) & self.base_dead[np.maximum(rows, 0)], -1, rows)
            base_hits = top_k(scores, rows, k)
        elif base_allowed is None and len(self._dead_rows):
            base_hits = self.base.search_rows(queries, k, ~self.base_dead)
        else:
            base_hits = self.base.search_rows(queries, k, base_allowed)
        delta_hits = self._search_delta(queries, k, delta_allowed)
        scores, rows = top_k(
            np.hstack([base_hits[0], delta_hits[0]]),
            np.hstack([base_hits[1], np.where(delta_hits[1] >= 0, delta_hits[1] + n_base, -1)]),
            k,
        )
        ids = np.concatenate([self.base.vector_ids, self.delta_payload.vector_ids])
        return [
            [Neighbour(int(ids[r]), float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0]
            for srow, rrow in zip(scores, rows, strict=True)
        ]

    def _allowed(self, flt: SearchFilter | None) -> tuple[Mask | None, Mask]:
        """(base rows allowed or None for "all but the deleted", delta rows allowed), cached per filter."""
        held = self._masks.get(flt)
        if held is not None:
            return held
        base_mask = self.base.payload.mask(flt)
        if base_mask is not None and len(self._dead_rows):
            base_mask = base_mask & ~self.base_dead
        delta_mask = ~self.delta_dead
        dm = self.delta_payload.mask(flt)
        if dm is not None:
            delta_mask = delta_mask & dm
        if len(self._masks) >= MASK_CACHE:
            self._masks.clear()
        self._masks[flt] = (base_mask, delta_mask)
        return base_mask, delta_mask

    def _search_delta(self, queries: Vectors, k: int, allowed: Mask) -> Hits:
        rows = np.flatnonzero(allowed)
        if len(rows) == 0:
            return empty_hits(len(queries), k)
        scores, local = exact_knn(queries, np.ascontiguousarray(self.delta_vectors[rows]), k)
        return scores, np.where(local >= 0, rows[np.maximum(local, 0)], -1)

    # -- what compaction and publishing use ----------------------------------------------------

    def live_payload(self) -> Payload:
        """Every live row's payload: base rows first (in base order), then delta rows."""
        return Payload.concat(
            [
                self.base.payload.take(np.flatnonzero(~self.base_dead)),
                self.delta_payload.take(self._delta_alive()),
            ]
        )

    def _delta_alive(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(~self.delta_dead)

    def live_vectors(self, chunk: int = 65_536) -> npt.NDArray[np.float32]:
        """Every live row's exact vector, in ``live_payload`` order (float32; base read in chunks)."""
        alive = np.flatnonzero(~self.base_dead)
        parts = [self.base.exact_rows(alive[lo : lo + chunk]) for lo in range(0, len(alive), chunk)]
        parts.append(self.delta_vectors[self._delta_alive()])
        return np.ascontiguousarray(
            np.concatenate(parts) if parts else np.zeros((0, self.dim)), dtype=np.float32
        )
