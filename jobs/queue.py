"""``JobQueue``: a durable job queue on the SQL database (SQLite file or PostgreSQL).

Every state change is one conditional UPDATE (compare-and-set on ``attempts`` and ``worker``),
so two workers never both own a job and a stalled worker's late writes are refused. A worker
holds a lease it renews; when it dies the lease runs out and the next ``claim`` takes the job
again (up to ``max_attempts`` claims, then it fails with the reason).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from catalog.store import make_engine, normalise_url
from jobs.errors import JobStateError, LeaseLost, UnknownJobError
from jobs.migrate import upgrade_to_head
from jobs.models import JobRow
from jobs.records import FINISHED, Job, JobState, Outcome

DEFAULT_OWNER = "default"
MAX_STORED_REJECTS = 1000
"""Rejects kept in the row; a handler with more writes the full report to a file."""


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _to_job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        owner=row.owner,
        state=JobState(row.state),
        params=dict(row.params or {}),
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        summary=row.summary,
        rejects=list(row.rejects or []),
        rejects_total=row.rejects_total,
        error=row.error,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        cancel_requested=row.cancel_requested,
        worker=row.worker,
        created_at=_aware(row.created_at) or datetime.now(UTC),
        started_at=_aware(row.started_at),
        finished_at=_aware(row.finished_at),
        idempotency_key=row.idempotency_key,
    )


class JobQueue:
    """Submit, read, list and cancel jobs; workers ``claim`` them and report back."""

    def __init__(self, database: str | Engine, *, max_attempts: int = 3, migrate: bool = True) -> None:
        self.engine = make_engine(normalise_url(database)) if isinstance(database, str) else database
        self.max_attempts = max_attempts
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the queue's tables to the newest migration; idempotent."""
        upgrade_to_head(self.engine)

    # -- callers -----------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        owner: str = DEFAULT_OWNER,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
    ) -> Job:
        """Queue a job. The same ``idempotency_key`` from the same owner returns the first job."""
        job_id = uuid.uuid4().hex
        values = {
            "id": job_id,
            "kind": kind,
            "owner": owner,
            "idempotency_key": idempotency_key,
            "state": JobState.QUEUED.value,
            "params": dict(params or {}),
            "progress_done": 0,
            "rejects_total": 0,
            "attempts": 0,
            "max_attempts": max_attempts or self.max_attempts,
            "cancel_requested": False,
            "created_at": datetime.now(UTC),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(JobRow).values(**values))
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = self._by_key(owner, idempotency_key)
            if existing is None:
                raise
            return existing
        return self.get(job_id)

    def get(self, job_id: str, *, owner: str | None = None) -> Job:
        """The job; another owner's job is as unknown as a missing one."""
        with Session(self.engine) as session:
            row = session.scalars(select(JobRow).where(JobRow.id == job_id)).first()
            if row is None or (owner is not None and row.owner != owner):
                raise UnknownJobError(f"no job {job_id!r}")
            return _to_job(row)

    def list(
        self,
        *,
        owner: str | None = None,
        kind: str | None = None,
        states: Iterable[JobState] | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[Job]:
        """Newest first; ``before`` (a job id) pages on past that job."""
        query = select(JobRow).order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        if states is not None:
            query = query.where(JobRow.state.in_([JobState(s).value for s in states]))
        if before is not None:
            anchor = self.get(before, owner=owner)
            query = query.where(
                or_(
                    JobRow.created_at < anchor.created_at,
                    and_(JobRow.created_at == anchor.created_at, JobRow.id < anchor.id),
                )
            )
        with Session(self.engine) as session:
            return [_to_job(row) for row in session.scalars(query)]

    def cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        """A queued job is cancelled at once; a running one at its handler's next check."""
        job = self.get(job_id, owner=owner)
        if job.state.finished:
            return job
        with self.engine.begin() as conn:
            conn.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.QUEUED.value)
                .values(
                    state=JobState.CANCELLED.value,
                    cancel_requested=True,
                    finished_at=datetime.now(UTC),
                )
            )
            conn.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.RUNNING.value)
                .values(cancel_requested=True)
            )
        return self.get(job_id)

    def delete_finished(self, *, older_than_s: float, owner: str | None = None) -> int:
        """Forget finished jobs older than this; returns how many."""
        cutoff = datetime.fromtimestamp(time.time() - older_than_s, UTC)
        query = delete(JobRow).where(
            JobRow.state.in_([s.value for s in FINISHED]), JobRow.finished_at < cutoff
        )
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        with self.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    # -- workers -----------------------------------------------------------------------

    def claim(self, worker: str, *, kinds: Sequence[str] | None = None, lease_s: float = 30.0) -> Job | None:
        """Take the oldest runnable job: queued, or running under a lease that ran out."""
        while True:
            now = time.time()
            query = (
                select(JobRow.id, JobRow.state, JobRow.attempts, JobRow.max_attempts, JobRow.cancel_requested)
                .where(
                    or_(
                        JobRow.state == JobState.QUEUED.value,
                        and_(JobRow.state == JobState.RUNNING.value, JobRow.lease_expires < now),
                    )
                )
                .order_by(JobRow.created_at, JobRow.id)
                .limit(16)
            )
            if kinds is not None:
                query = query.where(JobRow.kind.in_(list(kinds)))
            with self.engine.connect() as conn:
                candidates = conn.execute(query).all()
            if not candidates:
                return None
            for cand in candidates:
                claimed = self._try_claim(cand, worker, now, lease_s)
                if claimed is not None:
                    return claimed
            # every candidate was taken or settled by someone else meanwhile: look again

    def _try_claim(self, cand: Any, worker: str, now: float, lease_s: float) -> Job | None:
        same = and_(JobRow.id == cand.id, JobRow.state == cand.state, JobRow.attempts == cand.attempts)
        if cand.state == JobState.RUNNING.value:
            same = and_(same, JobRow.lease_expires < now)
            abandoned = self._abandoned_state(cand)
            if abandoned is not None:
                with self.engine.begin() as conn:
                    conn.execute(update(JobRow).where(same).values(**abandoned))
                return None
        values: dict[str, Any] = {
            "state": JobState.RUNNING.value,
            "attempts": cand.attempts + 1,
            "worker": worker,
            "lease_expires": now + lease_s,
            "started_at": func.coalesce(JobRow.started_at, datetime.now(UTC)),
        }
        with self.engine.begin() as conn:
            if conn.execute(update(JobRow).where(same).values(**values)).rowcount != 1:
                return None
        return self.get(cand.id)

    @staticmethod
    def _abandoned_state(cand: Any) -> dict[str, Any] | None:
        """A dead worker's job that must not run again: cancelled meanwhile, or out of attempts."""
        finished = {"finished_at": datetime.now(UTC), "worker": None, "lease_expires": None}
        if cand.cancel_requested:
            return {"state": JobState.CANCELLED.value, **finished}
        if cand.attempts >= cand.max_attempts:
            reason = f"its worker stopped responding {cand.attempts} times (max_attempts {cand.max_attempts})"
            return {"state": JobState.FAILED.value, "error": reason, **finished}
        return None

    def heartbeat(
        self, job_id: str, worker: str, *, lease_s: float, done: int | None = None, total: int | None = None
    ) -> bool:
        """Renew the lease (and record progress); returns whether a cancel was asked.

        Raises ``LeaseLost`` when this worker no longer owns the job.
        """
        values: dict[str, Any] = {"lease_expires": time.time() + lease_s}
        if done is not None:
            values["progress_done"] = done
        if total is not None:
            values["progress_total"] = total
        with self.engine.begin() as conn:
            result = conn.execute(
                update(JobRow)
                .where(*self._owned(job_id, worker))
                .values(**values)
                .returning(JobRow.cancel_requested)
            ).first()
        if result is None:
            raise LeaseLost(f"job {job_id} is no longer owned by {worker}")
        return bool(result.cancel_requested)

    def finish(self, job_id: str, worker: str, outcome: Outcome) -> Job:
        """Mark the job succeeded with its summary and rejects, if this worker still owns it."""
        total = outcome.rejects_total if outcome.rejects_total is not None else len(outcome.rejects)
        return self._settle(
            job_id,
            worker,
            state=JobState.SUCCEEDED,
            summary=outcome.summary,
            rejects=outcome.rejects[:MAX_STORED_REJECTS],
            rejects_total=total,
            progress_done=func.coalesce(JobRow.progress_total, JobRow.progress_done),
        )

    def fail(self, job_id: str, worker: str, error: str, *, cancelled: bool = False) -> Job:
        """Mark the job failed (or cancelled) with the reason, if this worker still owns it."""
        state = JobState.CANCELLED if cancelled else JobState.FAILED
        return self._settle(job_id, worker, state=state, error=error)

    def release(self, job_id: str, worker: str) -> None:
        """Hand a claimed job back to the queue (a worker shutting down): that claim is not counted."""
        with self.engine.begin() as conn:
            conn.execute(
                update(JobRow)
                .where(*self._owned(job_id, worker))
                .values(
                    state=JobState.QUEUED.value,
                    worker=None,
                    lease_expires=None,
                    attempts=JobRow.attempts - 1,  # a running job was claimed at least once
                )
            )

    def _settle(self, job_id: str, worker: str, *, state: JobState, **values: Any) -> Job:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(JobRow)
                .where(*self._owned(job_id, worker))
                .values(state=state.value, finished_at=datetime.now(UTC), lease_expires=None, **values)
            )
        if result.rowcount != 1:
            raise LeaseLost(f"job {job_id} is no longer owned by {worker}")
        return self.get(job_id)

    @staticmethod
    def _owned(job_id: str, worker: str) -> tuple[Any, ...]:
        return (JobRow.id == job_id, JobRow.worker == worker, JobRow.state == JobState.RUNNING.value)

    def _by_key(self, owner: str, key: str) -> Job | None:
        with Session(self.engine) as session:
            row = session.scalars(
                select(JobRow).where(JobRow.owner == owner, JobRow.idempotency_key == key)
            ).first()
            return None if row is None else _to_job(row)

    def require(self, job_id: str, state: JobState, *, owner: str | None = None) -> Job:
        """The job, if it is in ``state`` (else a 409 naming the state it is in)."""
        job = self.get(job_id, owner=owner)
        if job.state is not state:
            raise JobStateError(f"job {job_id} is {job.state.value}, not {state.value}")
        return job

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)
