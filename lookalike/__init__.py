"""lookalike: visual product search. Core types, settings and the search pipeline live here;
each stage has its own top-level package (detector, embedder, index, catalog_ingest, api,
evaluation)."""

import os as _os


def _keep_every_core_for_openmp() -> None:
    """Importing ultralytics sets ``OMP_NUM_THREADS=1`` when it is unset (a training default).
    OpenMP reads it once per process, so FAISS and torch in any process started after that
    import (a server, a worker, a benchmark's child) ran on one core: found when a GEMM in a
    child of the benchmark measured half the machine. Pin OpenMP's own default first; a value
    the user set is kept."""
    cores = len(_os.sched_getaffinity(0)) if hasattr(_os, "sched_getaffinity") else _os.cpu_count()
    _os.environ.setdefault("OMP_NUM_THREADS", str(cores or 1))


_keep_every_core_for_openmp()

__version__ = "0.1.0"
