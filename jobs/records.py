"""What the job queue hands out and takes: plain values, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class Job:
    """A job as stored. ``rejects`` holds at most ``MAX_STORED_REJECTS`` rows; ``rejects_total`` all."""

    id: str
    kind: str
    owner: str
    state: JobState
    params: dict[str, Any]
    progress_done: int
    progress_total: int | None
    summary: dict[str, Any] | None
    rejects: list[dict[str, Any]]
    rejects_total: int
    error: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    idempotency_key: str | None = None

    @property
    def progress(self) -> float | None:
        """Share done in [0, 1], or None while the total is unknown."""
        if not self.progress_total:
            return 1.0 if self.state is JobState.SUCCEEDED else None
        return min(self.progress_done / self.progress_total, 1.0)


@dataclass
class Outcome:
    """What a handler returns: a summary (JSON-able) and the rejects report (one dict per row)."""

    summary: dict[str, Any] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    rejects_total: int | None = None
    """Rejects in all, when ``rejects`` is only a sample (the full report is then a file)."""
