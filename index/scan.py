"""Exact inner products of a few queries against a flat matrix, reading the matrix once.

FAISS's flat search scans the whole matrix once per query when there are fewer than 20,
spreading the queries over its threads. A screenshot's 2-3 regions against the 5k x 1280-d
demo catalog (27.6 MB) meant 2-3 passes through memory. Here each block of rows small enough
to stay in L2 is multiplied by every query (a BLAS matrix-vector product each) before the next
block is read. Measured right after the embedder ran, as in a request: 2.8 ms on one core,
against FAISS's 3.1 to 4.0 ms on two cores and 3.9 on one (in a tight loop, the matrix warm in cache,
FAISS on two cores wins, 1.7 ms against 2.1, but a request never finds it warm).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_QUERIES = 8
"""Above this, FAISS's own search (BLAS matrix products) is used."""
MAX_FAISS_THREADS = 2
"""Where FAISS would scan with more threads than this (a lone search on a bigger machine), its
parallel passes are left to it: one pass on one core beat two passes on two here, and this
machine has no more cores to say where that turns."""
BLOCK_BYTES = 384 * 1024
"""Rows per block: this much of the matrix (an L2 cache holds it while every query reads it).
Small blocks also keep OpenBLAS's matrix-vector product on the calling thread."""


def inner_products(
    queries: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """(n_queries, n_rows) scores."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n = len(vectors)
    out = np.empty((len(queries), n), dtype=np.float32)
    block = max(1, BLOCK_BYTES // (4 * vectors.shape[1]))
    for start in range(0, n, block):
        stop = min(start + block, n)
        rows = vectors[start:stop]
        for i, query in enumerate(queries):
            np.dot(rows, query, out=out[i, start:stop])
    return out


def candidates(
    queries: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The best ``min(k, n)`` (scores, rows) of each query, in no particular order."""
    scores = inner_products(queries, vectors)
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        rows = np.argpartition(scores, n - k, axis=1)[:, n - k :]
        scores = np.take_along_axis(scores, rows, 1)
    else:
        rows = np.broadcast_to(np.arange(n), scores.shape)
    return scores, rows.astype(np.int64)
