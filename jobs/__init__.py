"""A durable job queue on the catalog's database: background work that outlives a process.

``JobQueue`` stores jobs (id, kind, owner, state, progress, summary, rejects) in the ``jobs``
table (SQLite or PostgreSQL, own Alembic chain); ``JobRunner`` claims them with a renewed lease
and runs a handler per kind. A job survives a server restart; one whose worker was killed is
claimed again when its lease runs out. See docs/JOBS.md.
"""

from jobs.errors import (
    JobCancelled,
    JobInterrupted,
    JobStateError,
    LeaseLost,
    UnknownJobError,
    WorkerStopping,
)
from jobs.queue import DEFAULT_OWNER, MAX_STORED_REJECTS, JobQueue
from jobs.records import Job, JobState, Outcome
from jobs.runner import Handler, JobContext, JobRunner

__all__ = [
    "DEFAULT_OWNER",
    "MAX_STORED_REJECTS",
    "Handler",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobInterrupted",
    "JobQueue",
    "JobRunner",
    "JobState",
    "JobStateError",
    "LeaseLost",
    "Outcome",
    "UnknownJobError",
    "WorkerStopping",
]
