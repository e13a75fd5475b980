"""OpenMP team size per calling thread (OpenMP keeps it per thread, so each thread sets its own).

Searches of a few queries run FAISS on one thread: a server gets its parallelism from
concurrent requests, and idle OpenMP workers spinning beside them only slow them down.
Builds and large batches use every core.
"""

from __future__ import annotations

import threading

import faiss

SMALL_BATCH = 8
MAX_THREADS = faiss.omp_get_max_threads()
_local = threading.local()


def use_threads(n: int) -> None:
    if getattr(_local, "n", None) != n:
        faiss.omp_set_num_threads(n)
        _local.n = n


def for_queries(nq: int) -> None:
    use_threads(1 if nq < SMALL_BATCH else MAX_THREADS)


def all_cores() -> None:
    use_threads(MAX_THREADS)
