"""Exact inner products of a few queries against a flat matrix, reading the matrix once.

FAISS's flat search scans the whole matrix once per query when there are fewer than 20: a
screenshot's 2-3 regions against the 5k x 1280-d demo catalog (27.6 MB) made three passes
through memory, 3.7 ms on one core. Here each block of rows small enough to stay in L2 is
multiplied by every query (a BLAS matrix-vector product each) before the next block is read:
1.9 ms on one core, and with the rows split over every core when the search is alone, ~1 ms.
Batches of many queries still go to FAISS, whose matrix-matrix path reuses the rows itself.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import numpy.typing as npt

MAX_QUERIES = 8
"""Above this, FAISS's own search (BLAS matrix products, threads over queries) is used."""
BLOCK_BYTES = 384 * 1024
"""Rows per block: this much of the matrix (an L2 cache holds it while every query reads it).
Small blocks also keep OpenBLAS's matrix-vector product on the calling thread."""


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="flat-scan")


def _fill(
    out: npt.NDArray[np.float32],
    vectors: npt.NDArray[np.float32],
    queries: npt.NDArray[np.float32],
    lo: int,
    hi: int,
) -> None:
    block = max(1, BLOCK_BYTES // (4 * vectors.shape[1]))
    for start in range(lo, hi, block):
        stop = min(start + block, hi)
        rows = vectors[start:stop]
        for i, query in enumerate(queries):
            np.dot(rows, query, out=out[i, start:stop])


def inner_products(
    queries: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32], parts: int = 1
) -> npt.NDArray[np.float32]:
    """(n_queries, n_rows) scores; ``parts`` > 1 splits the rows over that many threads (BLAS
    releases the GIL)."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n = len(vectors)
    out = np.empty((len(queries), n), dtype=np.float32)
    parts = max(1, min(parts, n // 1024))
    if parts == 1:
        _fill(out, vectors, queries, 0, n)
        return out
    bounds = np.linspace(0, n, parts + 1).astype(int)
    jobs = [
        _pool().submit(_fill, out, vectors, queries, int(lo), int(hi))
        for lo, hi in itertools.pairwise(bounds)
    ]
    for job in jobs:
        job.result()
    return out


def candidates(
    queries: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32], k: int, parts: int = 1
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The best ``min(k, n)`` (scores, rows) of each query, in no particular order."""
    scores = inner_products(queries, vectors, parts)
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        rows = np.argpartition(scores, n - k, axis=1)[:, n - k :]
        scores = np.take_along_axis(scores, rows, 1)
    else:
        rows = np.broadcast_to(np.arange(n), scores.shape)
    return scores, rows.astype(np.int64)
