"""FAISS's OpenMP team size, set explicitly before each FAISS call.

OpenMP keeps the team size per calling thread, so each request thread sets its own; the size
comes from the caller's ``ExecutionPolicy`` (``lookalike.execution``: one thread for a few
queries among other requests, every core for a big batch, a build or a lone search). Setting it
explicitly also means an ``OMP_NUM_THREADS`` that an imported library left in the environment
never decides it. (A flat index's few queries skip FAISS: see ``index.scan``.)
"""

from __future__ import annotations

import faiss


def set_team(n: int) -> None:
    """Make FAISS calls from this thread use ``n`` OpenMP threads (no call when already so)."""
    if faiss.omp_get_max_threads() != n:
        faiss.omp_set_num_threads(n)


def team() -> int:
    """The team size FAISS calls from this thread use now."""
    return int(faiss.omp_get_max_threads())
