"""OpenMP team size per calling thread (OpenMP keeps it per thread, so each thread sets its own).

Searches of a few queries run FAISS on one thread: a server gets its parallelism from
concurrent requests, and idle OpenMP workers spinning beside them only slow them down.
Builds and large batches use every core, and so does a search that is alone: where the
process says how many requests it has in flight (``lookalike.demand``), a lone request's
few queries are split over every core. (A flat index's few queries skip FAISS:
see ``index.scan``.)
"""

from __future__ import annotations

import threading

import faiss

from lookalike.demand import requests_in_flight

SMALL_BATCH = 8
MAX_THREADS = faiss.omp_get_max_threads()
_local = threading.local()


def use_threads(n: int) -> None:
    if getattr(_local, "n", None) != n:
        faiss.omp_set_num_threads(n)
        _local.n = n


def current() -> int:
    """The team size this thread last set (OpenMP's default: every core)."""
    return int(getattr(_local, "n", MAX_THREADS))


def for_queries(nq: int) -> None:
    in_flight = requests_in_flight()
    alone = in_flight is not None and in_flight <= 1  # unknown: assume company
    use_threads(MAX_THREADS if nq >= SMALL_BATCH or alone else 1)


def all_cores() -> None:
    use_threads(MAX_THREADS)
