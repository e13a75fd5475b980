"""Exact ground truth in one pass over the base, and recall / QPS / size of an index under test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from index.vector_index import VectorIndex, top_k

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def exact_topk(
    chunks: Iterable[F32], queries: F32, k: int, masks: Mapping[str, Mask] | None = None
) -> dict[str, I64]:
    """Top-k rows by inner product over the base given chunk by chunk (float32, in row order), for
    no filter ("all") and for each named row mask, in the same single pass."""
    names = ["all", *(masks or {})]
    best = {
        name: (np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1))
        for name in names
    }
    lo = 0
    for chunk in chunks:
        scores = queries @ chunk.T
        rows = np.broadcast_to(np.arange(lo, lo + len(chunk)), scores.shape)
        for name in names:
            s = (
                scores
                if name == "all"
                else np.where((masks or {})[name][lo : lo + len(chunk)], scores, -np.inf)
            )
            held = best[name]
            best[name] = top_k(np.hstack([held[0], s]).astype(np.float32), np.hstack([held[1], rows]), k)
        lo += len(chunk)
    return {name: rows for name, (_, rows) in best.items()}


def recall_at(found: I64, truth: I64, k: int = 10) -> float:
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist()) - {-1}) for f, t in zip(found, truth, strict=True)]
    sizes = [max(1, len(set(t[:k].tolist()) - {-1})) for t in truth]
    return float(np.mean(np.asarray(hits) / np.asarray(sizes)))


@dataclass
class Speed:
    qps_1thread: float
    qps_2threads: float
    qps_batched: float


def search_rows(index: VectorIndex, queries: F32, k: int, allowed: Mask | None = None) -> I64:
    return index.search_rows(queries, k, allowed)[1]


def measure_speed(
    index: VectorIndex, queries: F32, k: int = 10, allowed: Mask | None = None, seconds: float = 3.0
) -> Speed:
    """Batch-1 queries/s on 1 and on 2 threads (each thread one query at a time, FAISS on one
    OpenMP thread, as a server's request threads would), and one batch of all queries on 2 threads."""
    single = _rate(index, queries, k, allowed, threads=1, seconds=seconds)
    double = _rate(index, queries, k, allowed, threads=2, seconds=seconds)
    start = time.perf_counter()
    index.search_rows(queries, k, allowed)
    batched = len(queries) / (time.perf_counter() - start)
    return Speed(single, double, batched)


def _rate(
    index: VectorIndex, queries: F32, k: int, allowed: Mask | None, threads: int, seconds: float
) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(t: int) -> None:
        i = t
        while time.perf_counter() < stop:
            index.search_rows(queries[i % len(queries) : i % len(queries) + 1], k, allowed)
            i += threads
            done[t] += 1

    index.search_rows(queries[:4], k, allowed)  # warm caches
    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    return sum(done) / (time.perf_counter() - start)


def index_bytes(index: VectorIndex) -> int:
    """Serialized size of the FAISS structure: what it takes in RAM (the payload comes on top)."""
    return int(faiss.serialize_index(index.index).nbytes)
