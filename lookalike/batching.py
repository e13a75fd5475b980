"""Dynamic batching across concurrent requests, like Triton's dynamic batcher.

Request threads submit their items and wait; one worker thread gathers up to
``max_batch_size`` items or waits at most ``max_wait_ms`` after the first, runs the model
once on the whole batch, and hands each caller its own rows. The queue is bounded: when it
is full, ``submit`` raises ``OverloadedError`` (HTTP 429 with Retry-After) instead of letting
latency grow without bound. If a batch fails, its requests are retried one by one so a bad
input fails only its own request.

Waiting for company only pays when company can come. Given ``demand`` (how many requests
are in flight in this process, an ``InFlight`` counter), the worker stops gathering as soon
as every in-flight request is already in the batch: a lone request never waits
``max_wait_ms``, while concurrent ones still share model calls.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lookalike.errors import ClientError

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class OverloadedError(ClientError):
    """The batch queue is full; the client should retry after ``retry_after_s``."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: float = 1.0) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class InFlight:
    """A thread-safe count of requests inside a section (``with in_flight: ...``).

    With a ``limit`` it is also admission control: entering when ``limit`` requests are
    already inside raises ``OverloadedError`` (429 with Retry-After), so a burst cannot queue
    without bound in front of models that run inline, outside any batcher queue.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self.limit = limit

    def __enter__(self) -> InFlight:
        with self._lock:
            if self.limit is not None and self._count >= self.limit:
                raise OverloadedError(
                    f"server busy: {self.limit} requests already in progress", retry_after_s=1.0
                )
            self._count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._count -= 1

    def count(self) -> int:
        """Requests inside now; a method, so it can be handed over as ``DynamicBatcher(demand=...)``."""
        return self._count


@dataclass
class _Job(Generic[In, Out]):
    items: Sequence[In]
    future: Future[list[Out]] = field(default_factory=Future)


@dataclass
class BatcherStats:
    batches: int = 0
    items: int = 0
    isolated_failures: int = 0

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class DynamicBatcher(Generic[In, Out]):
    """Runs ``fn(items) -> outputs`` (one output per item) over batches gathered from threads."""

    def __init__(
        self,
        fn: Callable[[Sequence[In]], Sequence[Out]],
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 64,
        name: str = "batcher",
        demand: Callable[[], int] | None = None,
    ) -> None:
        self._fn = fn
        self._demand = demand
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: queue.Queue[_Job[In, Out]] = queue.Queue(maxsize=max_queue)
        self.stats = BatcherStats()
        self._closed = threading.Event()
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def submit(self, items: Sequence[In], timeout_s: float | None = None) -> list[Out]:
        """Block until this caller's outputs are ready. Raises OverloadedError when full."""
        if not items:
            return []
        job: _Job[In, Out] = _Job(list(items))
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise OverloadedError(
                f"server busy: {self._queue.maxsize} requests already queued", retry_after_s=1.0
            ) from None
        return job.future.result(timeout=timeout_s)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._closed.set()

    def _gather(self) -> list[_Job[In, Out]]:
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        jobs = [first]
        size = len(first.items)
        deadline = time.perf_counter() + self.max_wait_s
        while size < self.max_batch_size:
            if self._demand is not None and self._queue.empty() and self._demand() <= len(jobs):
                break  # every request in flight is already in this batch: nobody to wait for
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                job = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            jobs.append(job)
            size += len(job.items)
        return jobs

    def _run(self) -> None:
        while not self._closed.is_set():
            jobs = self._gather()
            if jobs:
                self._execute(jobs)

    def _execute(self, jobs: list[_Job[In, Out]]) -> None:
        items = [item for job in jobs for item in job.items]
        try:
            outputs = list(self._fn(items))
            if len(outputs) != len(items):
                raise RuntimeError(
                    f"batched function returned {len(outputs)} outputs for {len(items)} inputs"
                )
        except Exception as exc:
            if len(jobs) == 1:
                self.stats.isolated_failures += 1
                jobs[0].future.set_exception(exc)
                return
            log.warning("batch of %d requests failed; retrying them one by one", len(jobs))
            for job in jobs:
                self._execute_alone(job)
            return
        self.stats.batches += 1
        self.stats.items += len(items)
        start = 0
        for job in jobs:
            job.future.set_result(outputs[start : start + len(job.items)])
            start += len(job.items)

    def _execute_alone(self, job: _Job[In, Out]) -> None:
        try:
            job.future.set_result(list(self._fn(job.items)))
            self.stats.batches += 1
            self.stats.items += len(job.items)
        except Exception as exc:
            self.stats.isolated_failures += 1
            job.future.set_exception(exc)
