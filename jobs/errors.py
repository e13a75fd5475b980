"""Job queue errors: an unknown job is the caller's mistake (404); the others stop a handler."""

from __future__ import annotations

from lookalike.errors import ClientError, LookalikeError


class UnknownJobError(ClientError):
    status = 404
    title = "Unknown job"


class JobStateError(ClientError):
    """An action the job's state does not allow (e.g. results of a job still running)."""

    status = 409
    title = "Job state conflict"


class JobInterrupted(LookalikeError):
    """Raised inside a handler at its next check: it must stop and publish nothing more."""


class JobCancelled(JobInterrupted):
    """Somebody cancelled the job."""


class LeaseLost(JobInterrupted):
    """Another worker owns the job now (this one stalled past its lease)."""


class WorkerStopping(JobInterrupted):
    """This worker is shutting down: the job goes back to the queue for another one."""
