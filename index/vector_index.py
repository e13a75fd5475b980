"""A FAISS inner-product index over region vectors, with the payload that maps hits to items.

Vector ids are catalog region ids. The payload (item id and category per vector) travels
with the index so search can merge and filter without a database round trip.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from lookalike.types import Neighbour, Vectors


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees a GPU."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return bool(get_num_gpus and get_num_gpus() > 0)


@dataclass
class VectorIndex:
    """One immutable, searchable index version."""

    index: Any
    vector_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.str_]
    categories: npt.NDArray[np.str_]
    dim: int

    def __post_init__(self) -> None:
        self._row_of_id = {int(v): i for i, v in enumerate(self.vector_ids)}

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @staticmethod
    def build(
        vectors: Vectors,
        vector_ids: npt.NDArray[np.int64],
        item_ids: npt.NDArray[np.str_],
        categories: npt.NDArray[np.str_],
        *,
        factory: str = "Flat",
        use_gpu: bool = False,
    ) -> VectorIndex:
        """Vectors must be L2-normalised, so inner product is cosine similarity."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
        if not (len(vector_ids) == len(item_ids) == len(categories) == n):
            raise ValueError("vectors, vector_ids, item_ids and categories must have one row each")
        base = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        if use_gpu and gpu_available():
            res = faiss.StandardGpuResources()
            gpu = faiss.index_cpu_to_gpu(res, 0, base)
            if not gpu.is_trained:
                gpu.train(vectors)
            gpu.add(vectors)
            base = faiss.index_gpu_to_cpu(gpu)
        else:
            if not base.is_trained:
                base.train(vectors)
            base.add(vectors)
        return VectorIndex(
            base,
            np.asarray(vector_ids, dtype=np.int64),
            np.asarray(item_ids, dtype=np.str_),
            np.asarray(categories, dtype=np.str_),
            dim,
        )

    def search(
        self,
        queries: Vectors,
        k: int,
        *,
        categories: Collection[str] | None = None,
    ) -> list[list[Neighbour]]:
        """Top-k neighbours per query row; with ``categories``, only vectors in them.

        A category filter searches exactly over the selected rows, so recall cannot
        collapse however selective the filter is.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.count == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        if categories:
            return self._search_subset(queries, k, np.isin(self.categories, list(categories)))
        k_eff = min(k, self.count)
        scores, rows = self.index.search(queries, k_eff)
        return [
            [Neighbour(int(self.vector_ids[r]), float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0]
            for srow, rrow in zip(scores, rows, strict=True)
        ]

    def _search_subset(self, queries: Vectors, k: int, mask: npt.NDArray[np.bool_]) -> list[list[Neighbour]]:
        rows = np.flatnonzero(mask).astype(np.int64)
        if len(rows) == 0:
            return [[] for _ in range(len(queries))]
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
        scores, hits = self.index.search(queries, min(k, len(rows)), params=params)
        return [
            [Neighbour(int(self.vector_ids[r]), float(s)) for s, r in zip(srow, rrow, strict=True) if r >= 0]
            for srow, rrow in zip(scores, hits, strict=True)
        ]

    def item_of(self, vector_id: int) -> str:
        return str(self.item_ids[self._row_of_id[vector_id]])

    def category_of(self, vector_id: int) -> str:
        return str(self.categories[self._row_of_id[vector_id]])
