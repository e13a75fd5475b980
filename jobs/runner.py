"""``JobRunner``: claims jobs of the kinds it has handlers for and runs them, one at a time.

A handler is ``handler(job, context) -> Outcome``. It reports progress through the context,
which renews the lease and raises ``JobCancelled`` / ``LeaseLost`` at that point, so a handler
stops between two units of work. Handlers must be idempotent: a job whose worker died runs
again from the start on another worker, and must skip what the first run already made.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping

from jobs.errors import JobCancelled, LeaseLost, WorkerStopping
from jobs.queue import JobQueue
from jobs.records import Job, Outcome
from lookalike.errors import LookalikeError

log = logging.getLogger(__name__)


class JobContext:
    """What a running handler may do: report progress, and learn that it must stop."""

    def __init__(
        self, queue: JobQueue, job: Job, worker: str, lease_s: float, stopping: threading.Event | None = None
    ) -> None:
        self.queue, self.job, self.worker, self.lease_s = queue, job, worker, lease_s
        self._stopping = stopping or threading.Event()
        self._lock = threading.Lock()
        self._cancel = False
        self._lost: str | None = None
        self._last_write = 0.0

    def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Record progress (at most every second unless ``force``); stops a cancelled job here."""
        now = time.monotonic()
        if force or now - self._last_write >= 1.0:
            self._last_write = now
            self._renew(done, total)
        self.check()

    def check(self) -> None:
        """Raise if the job was cancelled or this worker lost it."""
        if self._lost is not None:
            raise LeaseLost(self._lost)
        if self._cancel:
            raise JobCancelled(f"job {self.job.id} was cancelled")
        if self._stopping.is_set():
            raise WorkerStopping(f"worker {self.worker} is stopping")

    def _renew(self, done: int | None = None, total: int | None = None) -> None:
        with self._lock:
            if self._lost is not None:
                return
            try:
                self._cancel = self.queue.heartbeat(
                    self.job.id, self.worker, lease_s=self.lease_s, done=done, total=total
                )
            except LeaseLost as exc:
                self._lost = str(exc)


Handler = Callable[[Job, JobContext], Outcome]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobRunner:
    """Runs jobs from one queue with the given handlers (kind -> handler)."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        worker: str | None = None,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
    ) -> None:
        self.queue, self.handlers = queue, dict(handlers)
        self.worker = worker or default_worker_id()
        self.lease_s, self.poll_s = lease_s, poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Job | None:
        """Claim one job and run it to its end; None when nothing was runnable."""
        job = self.queue.claim(self.worker, kinds=list(self.handlers), lease_s=self.lease_s)
        if job is None:
            return None
        return self.run_claimed(job)

    def run_claimed(self, job: Job) -> Job:
        context = JobContext(self.queue, job, self.worker, self.lease_s, self._stop)
        beat = threading.Event()
        heart = threading.Thread(target=self._beat, args=(context, beat), daemon=True, name="job-heartbeat")
        heart.start()
        try:
            return self._run(job, context)
        finally:
            beat.set()
            heart.join()

    def _run(self, job: Job, context: JobContext) -> Job:
        log.info("job %s (%s) started on %s, attempt %d", job.id, job.kind, self.worker, job.attempts)
        try:
            context.check()
            outcome = self.handlers[job.kind](job, context)
            context.check()
            return self.queue.finish(job.id, self.worker, outcome)
        except JobCancelled as exc:
            return self.queue.fail(job.id, self.worker, str(exc), cancelled=True)
        except WorkerStopping:
            log.info("job %s handed back to the queue: worker %s is stopping", job.id, self.worker)
            self.queue.release(job.id, self.worker)
            return self.queue.get(job.id)
        except LeaseLost:
            log.warning("job %s was taken over by another worker; this run's result is dropped", job.id)
            return self.queue.get(job.id)
        except LookalikeError as exc:
            return self.queue.fail(job.id, self.worker, str(exc))
        except Exception as exc:
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            return self.queue.fail(job.id, self.worker, f"{type(exc).__name__}: {exc}")

    def _beat(self, context: JobContext, stop: threading.Event) -> None:
        # Renew well before the lease runs out, so a long step between two progress calls is safe.
        while not stop.wait(self.lease_s / 3):
            context._renew()

    # -- a background worker ---------------------------------------------------------------

    def run_forever(self) -> None:
        """Run jobs until ``stop``; waits ``poll_s`` between looks at an empty queue."""
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                log.exception("job runner %s: claiming failed; retrying", self.worker)
                ran = None
            if ran is None:
                self._stop.wait(self.poll_s)

    def start(self) -> JobRunner:
        """Run in a daemon thread (a server's background worker)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, daemon=True, name=f"jobs-{self.worker}")
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop; the job in hand goes back to the queue at its handler's next progress call."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
