"""One immutable index version: a FAISS index over region vectors, its payload, its exact vectors.

Vector ids are catalog region ids; FAISS row ``i`` is payload row ``i``. Search is ANN (with a
re-rank of the candidates on the exact vectors when the index is lossy). A filter becomes a
row mask from the payload columns, and then, so that recall does not collapse however
selective it is: a small allowed set is searched exactly; a large one through the ANN index
with an ``IDSelectorBitmap`` and more lists/graph nodes visited.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index import exact as exact_store
from index import scan, threads
from index.builder import IndexPlan, build_faiss, plan_index
from index.exact import as_float32
from index.filters import SearchFilter
from index.gpu import gpu_available
from index.payload import Mask, Payload
from lookalike.execution import ExecutionPolicy
from lookalike.types import Neighbour, Vectors

_faiss: Any = faiss  # the bundled stubs miss several SearchParameters classes

Hits = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]
"""(scores, rows), both (n_queries, k); missing hits have row -1 and score -inf."""
EXACT_CHUNK = 16_384


@dataclass(frozen=True)
class FilterPolicy:
    """When a filtered search goes exact, and how much harder the ANN path looks otherwise.

    Measured at 1M vectors (docs/INDEX.md): gathering and scoring the exact vectors of the
    allowed rows costs ~2 ms per 1,000 rows (45 ms at 2%), while the IVF with a bitmap selector
    stays at 3-9 ms with recall@10 >= 0.99 for uncorrelated filters; so only small sets go exact.
    """

    exact_max_rows: int = 2_000
    exact_max_fraction: float = 0.0
    max_boost: float = 16.0
    min_candidates_factor: int = 8
    """Probe IVF lists until at least ``k * rerank * this`` allowed rows are scanned, and at
    least as many as an unfiltered search scans (``nprobe * ntotal / nlist``)."""
    fallback_max_rows: int = 250_000
    """An ANN search that found fewer than k allowed rows is redone exactly up to this many."""


def empty_hits(nq: int, k: int) -> Hits:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)


def top_k(scores: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], k: int) -> Hits:
    """Best ``k`` per query row of (scores, rows), best first; -1 rows are ignored."""
    scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
    if scores.shape[1] > k:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores, rows = np.take_along_axis(scores, part, 1), np.take_along_axis(rows, part, 1)
    order = np.argsort(-scores, axis=1, kind="stable")
    scores, rows = np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
    rows = np.where(np.isfinite(scores), rows, -1)
    if rows.shape[1] < k:
        pad_s, pad_r = empty_hits(len(rows), k - rows.shape[1])
        scores, rows = np.hstack([scores, pad_s]), np.hstack([rows, pad_r])
    return scores, rows


def exact_knn(queries: Vectors, vectors: npt.NDArray[np.float32], k: int) -> Hits:
    """Top-k inner products by brute force. FAISS's own SIMD loop, not a BLAS matrix product: with a
    few queries, multi-threaded BLAS on a busy machine is ten times slower than one core."""
    k_eff = min(k, len(vectors))
    scores, rows = faiss.knn(
        np.ascontiguousarray(queries, dtype=np.float32), vectors, k_eff, metric=faiss.METRIC_INNER_PRODUCT
    )
    return top_k(scores.astype(np.float32), rows.astype(np.int64), k)


def to_neighbours(hits: Hits, vector_ids: npt.NDArray[np.int64]) -> list[list[Neighbour]]:
    scores, rows = hits
    return [
        [Neighbour(int(vector_ids[r]), float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0]
        for srow, rrow in zip(scores, rows, strict=True)
    ]


def _unwrap(index: Any) -> list[Any]:
    """The chain of wrapped indexes, outermost first (PreTransform / Refine / IDMap peeled)."""
    chain = []
    current = faiss.downcast_index(index)
    while True:
        chain.append(current)
        if isinstance(current, faiss.IndexPreTransform):
            current = faiss.downcast_index(current.index)
        elif isinstance(current, faiss.IndexRefine):
            current = faiss.downcast_index(current.base_index)
        else:
            return chain


@dataclass
class VectorIndex:
    """One immutable, searchable index version."""

    index: Any
    payload: Payload
    dim: int
    plan: IndexPlan = field(default_factory=IndexPlan)
    exact: npt.NDArray[Any] | None = None
    """Exact vectors in row order (int16 fixed point, see ``index.exact``; usually memory-mapped);
    for a Flat index, a float32 view of its own storage."""
    policy: FilterPolicy = field(default_factory=FilterPolicy)
    execution: ExecutionPolicy = field(default_factory=ExecutionPolicy)
    """Whose cores FAISS uses per call; the registry hands over the server's (see ``index.threads``)."""
    index_bytes: int | None = None
    """Size of the FAISS index in memory; the store passes its file's size (None: measured)."""

    def __post_init__(self) -> None:
        if isinstance(self.exact, np.memmap):
            self.exact = np.asarray(self.exact)  # same mapped pages, without memmap's slow indexing
        chain = _unwrap(self.index)
        self._chain = chain
        self._core = chain[-1]
        self._ivf = self._core if isinstance(self._core, faiss.IndexIVF) else None
        self._hnsw = self._core if isinstance(self._core, faiss.IndexHNSW) else None
        if self.exact is None and isinstance(self._core, faiss.IndexFlat) and len(chain) == 1 and self.count:
            xb = faiss.rev_swig_ptr(self._core.get_xb(), self.count * self.dim)
            self.exact = xb.reshape(self.count, self.dim)  # a view of the index's own storage
        self._flat_scan = self.exact is not None and self.exact.dtype == np.float32 and self.plan.exact
        """A plain flat index: a few queries are scored by ``index.scan``, which reads the rows once."""
        self._list_of_row: npt.NDArray[np.int32] | None = None
        self._per_list: dict[int, tuple[Mask, npt.NDArray[np.int64]]] = {}
        self.gpu_index: Any = None
        self._order = np.argsort(self.payload.vector_ids, kind="stable")
        self._sorted_ids = self.payload.vector_ids[self._order]
        self.apply_search_params()

    # -- construction --------------------------------------------------------------------

    @staticmethod
    def build(
        vectors: Vectors,
        vector_ids: npt.ArrayLike,
        item_ids: Sequence[str] | npt.NDArray[np.str_] | None = None,
        categories: Sequence[str] | npt.NDArray[np.str_] | None = None,
        *,
        payload: Payload | None = None,
        factory: str = "Flat",
        plan: IndexPlan | None = None,
        use_gpu: bool = False,
        memory_budget_mb: float = 1024,
    ) -> VectorIndex:
        """Vectors must be L2-normalised, so inner product is cosine similarity.

        ``factory`` "auto" picks by size (``builder.plan_index``); ``plan`` overrides both.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
        if payload is None:
            if item_ids is None or categories is None:
                raise ValueError("give item_ids and categories, or a payload")
            payload = Payload.build(vector_ids, item_ids, categories)
        if len(payload) != n or not np.array_equal(
            payload.vector_ids, np.asarray(vector_ids, dtype=np.int64)
        ):
            raise ValueError("vectors, vector_ids, item_ids and categories must have one row each")
        plan = plan or plan_index(n, dim, factory=factory, memory_budget_mb=memory_budget_mb)
        index, _ = build_faiss(vectors, plan, use_gpu=use_gpu and gpu_available())
        exact = None if plan.exact else exact_store.encode(vectors)
        return VectorIndex(index, payload, dim, plan, exact)

    def apply_search_params(self) -> None:
        """Put the plan's nprobe / efSearch on the index (unfiltered searches pass no params)."""
        if self._ivf is not None and self.plan.nprobe:
            self._ivf.nprobe = min(self.plan.nprobe, self._ivf.nlist)
        if self._hnsw is not None and self.plan.ef_search:
            self._hnsw.hnsw.efSearch = self.plan.ef_search

    @property
    def nbytes(self) -> int:
        """Memory this version holds: FAISS index, payload, exact vectors (mapped pages counted
        too: searches touch them), id order. What residency weighs against its budget."""
        if self.index_bytes is None:
            self.index_bytes = int(faiss.serialize_index(self.index).nbytes)  # the CPU copy
        exact = 0
        if self.exact is not None and not (isinstance(self._core, faiss.IndexFlat) and len(self._chain) == 1):
            exact = int(self.exact.nbytes)
        return (
            self.index_bytes + self.payload.nbytes + exact + int(self._order.nbytes + self._sorted_ids.nbytes)
        )

    # -- payload ---------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @property
    def vector_ids(self) -> npt.NDArray[np.int64]:
        return self.payload.vector_ids

    @property
    def item_ids(self) -> npt.NDArray[np.str_]:
        return self.payload.item_ids

    @property
    def categories(self) -> npt.NDArray[np.str_]:
        return self.payload.categories

    def rows_of(self, vector_ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Row of each vector id, -1 where the id is not in this index."""
        ids = np.atleast_1d(np.asarray(vector_ids, dtype=np.int64))
        pos = np.searchsorted(self._sorted_ids, ids)
        pos = np.minimum(pos, max(len(self._sorted_ids) - 1, 0))
        found = (
            (len(self._sorted_ids) > 0) & (self._sorted_ids[pos] == ids) if len(ids) else np.zeros(0, bool)
        )
        return np.where(found, self._order[pos] if len(self._order) else -1, -1).astype(np.int64)

    def _row(self, vector_id: int) -> int:
        row = int(self.rows_of([vector_id])[0])
        if row < 0:
            raise KeyError(vector_id)
        return row

    def item_of(self, vector_id: int) -> str:
        return self.payload.item.value(self._row(vector_id))

    def items_of(self, vector_ids: Sequence[int]) -> list[str]:
        """``item_of`` for many ids in one vectorised lookup; KeyError for an unknown id."""
        rows = self.rows_of(vector_ids)
        if (rows < 0).any():
            raise KeyError(int(np.asarray(vector_ids)[rows < 0][0]))
        return self.payload.item.values(rows)

    def category_of(self, vector_id: int) -> str:
        return self.payload.category.value(self._row(vector_id))

    def item_rows(self, item_id: str) -> npt.NDArray[np.int64]:
        """Rows holding the vectors of one item (one per catalog photo region)."""
        return np.flatnonzero(self.payload.item.isin([item_id])).astype(np.int64)

    def item_vectors(self, item_id: str) -> npt.NDArray[np.float32]:
        """The exact vectors of one item: what explaining a match compares the query crop with."""
        return self.exact_rows(self.item_rows(item_id))

    def exact_rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Exact vectors of these rows as float32 (reconstructed when none are kept)."""
        if self.exact is not None:
            return as_float32(self.exact[rows])
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for i, r in enumerate(rows):
            out[i] = self.index.reconstruct(int(r))
        return out

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        queries: Vectors,
        k: int,
        *,
        categories: Collection[str] | None = None,
        filter: SearchFilter | None = None,
    ) -> list[list[Neighbour]]:
        """Top-k neighbours per query row, restricted by ``filter`` (and/or ``categories``)."""
        flt = SearchFilter.combine(filter, categories)
        hits = self.search_rows(
            np.atleast_2d(np.asarray(queries, dtype=np.float32)), k, self.payload.mask(flt)
        )
        return to_neighbours(hits, self.payload.vector_ids)

    def search_rows(self, queries: Vectors, k: int, allowed: Mask | None = None) -> Hits:
        """Best ``k`` rows per query among ``allowed`` rows (all when None)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        n, nq = self.count, len(queries)
        if n == 0 or nq == 0 or k <= 0:
            return empty_hits(nq, max(k, 0))
        if allowed is None:
            return self._ann(queries, k, None, 1.0)
        m = int(np.count_nonzero(allowed))
        if m == 0:
            return empty_hits(nq, k)
        if m == n:
            return self._ann(queries, k, None, 1.0)
        p = self.policy
        if m <= p.exact_max_rows or m <= p.exact_max_fraction * n:
            return self.exact_subset(queries, k, np.flatnonzero(allowed))
        hits = self._ann(queries, k, allowed, m / n)
        found = (hits[1] >= 0).sum(axis=1)
        if (found < min(k, m)).any() and m <= p.fallback_max_rows:
            return self.exact_subset(queries, k, np.flatnonzero(allowed))
        return hits

    def exact_subset(self, queries: Vectors, k: int, rows: npt.NDArray[np.int64]) -> Hits:
        """Exact inner products against the given rows, in chunks so memory stays bounded."""
        best = empty_hits(len(queries), k)
        threads.set_team(self.execution.faiss_team(len(queries)))
        for lo in range(0, len(rows), EXACT_CHUNK):
            chunk = rows[lo : lo + EXACT_CHUNK]
            scores, local = exact_knn(queries, self.exact_rows(chunk), k)
            cand = np.where(local >= 0, chunk[np.maximum(local, 0)], -1)
            best = top_k(np.hstack([best[0], scores]), np.hstack([best[1], cand]), k)
        return best

    def _ann(self, queries: Vectors, k: int, allowed: Mask | None, fraction: float) -> Hits:
        n = self.count
        rerank = self.plan.rerank if self.exact is not None and not self.plan.exact else 0
        fetch = min(n, k * max(rerank, 1))
        refs: list[Any] = []
        team = self.execution.faiss_team(len(queries))
        threads.set_team(team)
        few = len(queries) <= scan.MAX_QUERIES and team <= scan.MAX_FAISS_THREADS
        if allowed is None and self._flat_scan and few and self.gpu_index is None:
            assert self.exact is not None
            return top_k(*scan.candidates(queries, self.exact, fetch), k)
        params = self._params(queries, allowed, fraction, fetch, refs) if allowed is not None else None
        searcher = self.gpu_index if params is None and self.gpu_index is not None else self.index
        scores, rows = searcher.search(queries, fetch, params=params)
        del refs  # the selector and its bitmap had to outlive the search call
        if rerank:
            return self._rerank(queries, rows, k)
        return top_k(scores, rows, k)

    def _rerank(self, queries: Vectors, rows: npt.NDArray[np.int64], k: int) -> Hits:
        assert self.exact is not None
        safe = np.maximum(rows, 0)
        flat = safe.ravel()
        vecs = as_float32(self.exact[flat]).reshape(*rows.shape, self.dim)
        scores = np.einsum("qcd,qd->qc", vecs, queries, dtype=np.float32)
        return top_k(scores, rows, k)

    def _params(self, queries: Vectors, allowed: Mask, fraction: float, fetch: int, refs: list[Any]) -> Any:
        bitmap = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap))
        refs += [bitmap, selector]
        boost = min(1.0 / max(fraction, 1e-9), self.policy.max_boost)
        params: Any = None
        for wrapped in reversed(self._chain):
            if isinstance(wrapped, faiss.IndexIVF):
                params = _faiss.SearchParametersIVF()
                params.nprobe = self._filtered_nprobe(queries, allowed, boost, fetch)
                params.sel = selector
            elif isinstance(wrapped, faiss.IndexHNSW):
                params = _faiss.SearchParametersHNSW()
                params.efSearch = int(min(4096, max(self.plan.ef_search or 64, fetch) * boost))
                params.sel = selector
            elif isinstance(wrapped, faiss.IndexPreTransform):
                outer = _faiss.SearchParametersPreTransform()
                outer.index_params = params
                params = outer
            elif isinstance(wrapped, faiss.IndexRefine):
                outer = _faiss.IndexRefineSearchParameters()
                outer.k_factor = wrapped.k_factor
                outer.base_index_params = params
                params = outer
            else:
                params = _faiss.SearchParameters()
                params.sel = selector
            refs.append(params)
        return params

    def _filtered_nprobe(self, queries: Vectors, allowed: Mask, boost: float, fetch: int) -> int:
        """More lists when fewer rows are allowed: the plan's nprobe times ``boost``, and at least
        enough of the nearest lists to hold ``fetch * min_candidates_factor`` allowed rows (a filter
        correlated with the vectors can leave the nearest lists nearly empty)."""
        ivf = self._ivf
        assert ivf is not None
        nlist = int(ivf.nlist)
        nprobe = min(nlist, math.ceil(max(self.plan.nprobe, 1) * boost))
        per_list = self._allowed_per_list(allowed, nlist)
        reduced = queries
        for wrapped in self._chain[:-1]:
            if isinstance(wrapped, faiss.IndexPreTransform):
                chain: Any = wrapped.chain
                for i in range(chain.size()):
                    reduced = faiss.downcast_VectorTransform(chain.at(i)).apply(reduced)
        _, order = ivf.quantizer.search(np.ascontiguousarray(reduced, dtype=np.float32), nlist)
        # As many allowed rows as an unfiltered search scans rows: a filter correlated with the
        # vectors (allowed rows far from the query) then still sees enough of them.
        target = max(fetch * self.policy.min_candidates_factor, self.plan.nprobe * self.count / nlist)
        needed = [int(np.searchsorted(np.cumsum(per_list[o[o >= 0]]), target)) + 1 for o in order]
        return int(min(nlist, max(nprobe, *needed)))

    def _allowed_per_list(self, allowed: Mask, nlist: int) -> npt.NDArray[np.int64]:
        """Allowed rows per IVF list, cached per mask object (callers reuse masks per filter)."""
        held = self._per_list.get(id(allowed))
        if held is not None and held[0] is allowed:
            return held[1]
        counts = np.bincount(self.list_of_row[allowed], minlength=nlist)
        if len(self._per_list) >= 64:
            self._per_list.clear()
        self._per_list[id(allowed)] = (allowed, counts)
        return counts

    def place_on_gpu(self) -> bool:
        """Serve unfiltered searches from a GPU copy (filtered ones, which need selectors, stay on CPU)."""
        if not gpu_available() or self._hnsw is not None:
            return False
        from index.gpu import to_gpu

        self.gpu_index = to_gpu(self.index)
        return True

    @property
    def list_of_row(self) -> npt.NDArray[np.int32]:
        """The IVF list each row lives in (computed once, from the inverted lists)."""
        if self._list_of_row is None:
            assert self._ivf is not None
            out = np.full(self.count, -1, dtype=np.int32)
            invlists: Any = self._ivf.invlists
            for lst in range(self._ivf.nlist):
                size = invlists.list_size(lst)
                if size:
                    ids = faiss.rev_swig_ptr(invlists.get_ids(lst), size)
                    out[np.asarray(ids, dtype=np.int64)] = lst
            self._list_of_row = out
        return self._list_of_row
