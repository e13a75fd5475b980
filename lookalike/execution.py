"""How one process shares its cores between model runs and FAISS: one ``ExecutionPolicy``.

The wiring (``service.runtime.Runtime``) makes one and hands it to the detector, the embedder
and the index registry; nothing here is process-wide state, so two runtimes in one process
(tests, an evaluation beside a server) never steer each other.

What it decides, and why:

- **Cores.** ``usable_cores()`` counts the cores this process may run on (its CPU affinity: a
  container's cpuset or ``taskset``), not the host's; every core count in lookalike comes from it.
- **Wide or narrow model runs.** A lone request runs fastest with every core inside each ONNX
  operator. Under load, the detector and the embedder run at the same time, and two sessions of
  two threads each on two cores only thrash: one thread each gave 10-15% more throughput at 16
  clients, while a lone request was 20% slower. So each model keeps a wide session (all cores)
  and a narrow one (one thread), and a run goes wide only when it is the only model run under way
  (``model_run``) and, where the policy knows the requests in flight (``demand``), only when there
  is at most one.
- **FAISS's OpenMP team.** Searches of a few queries run FAISS on one thread (a server gets its
  parallelism from concurrent requests, and idle OpenMP workers spinning beside them slow them
  down); a large batch, a build, or a search that is alone uses every core (``faiss_team``).
- **Searches computing at once** (``search_threads``): with models inline on the CPU one more
  than cores keeps every core busy while one search decodes or waits (p99/p50 1.6 -> 1.2 at 16
  clients against more, same throughput); cross-request batchers want company (32).
- **Child processes.** Importing ultralytics sets ``OMP_NUM_THREADS=1`` in the environment when it
  is unset (a training default), and every process started after that read it: a benchmark's
  server ran FAISS and torch on one core. lookalike never relies on that variable in its own
  process (FAISS's team and torch's threads are set explicitly), and hands children an explicit
  one (``child_env``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

Demand = Callable[[], int]
"""Requests in flight in this process now (``InFlight.count``)."""

SMALL_BATCH = 8
"""A FAISS search of this many queries or more is worth every core, whatever else runs."""
BATCHED_SEARCH_THREADS = 32
"""Searches computing at once when cross-request batchers gather the model calls."""


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the OS has one, else the count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class ExecutionPolicy:
    """Cores, threads and demand of one process's search pipeline (see the module doc).

    ``demand`` says how many requests the process has in flight; ``None`` means nobody said (a
    CLI, a script): model runs then decide by themselves, and FAISS assumes company.
    """

    def __init__(self, cores: int | None = None, *, demand: Demand | None = None) -> None:
        self.cores = cores if cores is not None and cores > 0 else usable_cores()
        self.demand = demand
        self._runs = 0
        self._lock = threading.Lock()

    # -- demand ----------------------------------------------------------------------------

    def requests_in_flight(self) -> int | None:
        return None if self.demand is None else self.demand()

    def alone(self) -> bool:
        """Known to serve at most one request now (unknown demand is not alone)."""
        in_flight = self.requests_in_flight()
        return in_flight is not None and in_flight <= 1

    # -- model runs --------------------------------------------------------------------------

    def threads_per_run(self, configured: int = 0) -> int:
        """Intra-op threads of a wide model run: the configured count, 0 meaning every core."""
        return configured if configured > 0 else self.cores

    @contextmanager
    def model_run(self) -> Iterator[bool]:
        """Count a model run while it runs; yields whether it may take the wide session."""
        with self._lock:
            self._runs += 1
            in_flight = self.requests_in_flight()  # unknown: the model runs alone decide
            wide = self._runs == 1 and (in_flight is None or in_flight <= 1)
        try:
            yield wide
        finally:
            with self._lock:
                self._runs -= 1

    @contextmanager
    def side_by_side(self) -> Iterator[None]:
        """Model runs started inside take the narrow sessions: the caller starts several at once
        (one per core) and none of them may take every core."""
        with self._lock:
            self._runs += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs -= 1

    def models_running(self) -> int:
        """Model runs under way through this policy's sessions."""
        return self._runs

    # -- FAISS -------------------------------------------------------------------------------

    def faiss_team(self, queries: int) -> int:
        """OpenMP threads for a FAISS call over this many queries."""
        return self.cores if queries >= SMALL_BATCH or self.alone() else 1

    # -- serving -----------------------------------------------------------------------------

    def search_threads(self, configured: int = 0, *, batching: bool = False) -> int:
        """Searches computing at once (the rest wait their turn)."""
        if configured > 0:
            return configured
        return BATCHED_SEARCH_THREADS if batching else self.cores + 1

    def server_workers(self, configured: int = 0) -> int:
        """Server processes: the configured count, 0 meaning one per core."""
        return configured if configured > 0 else self.cores

    # -- child processes ---------------------------------------------------------------------

    def child_env(self, base: Mapping[str, str], **extra: str) -> dict[str, str]:
        """The environment for a child process: ``base`` with an explicit OpenMP team size of
        every usable core (whatever an imported library left in ``base``), plus ``extra``."""
        return {**base, "OMP_NUM_THREADS": str(self.cores), **extra}


__all__ = ["SMALL_BATCH", "Demand", "ExecutionPolicy", "usable_cores"]
