"""GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel: the caller's background jobs.

Every read is scoped by ``JobOwnerDep`` (the tenant, once tenancy says who calls), so one owner
never sees another's jobs: an unknown and a foreign job are the same 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from api.deps import JobOwnerDep, JobQueueDep
from api.schemas import JobList, JobOut
from jobs import Job, JobState

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobPath = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _problem("Unknown job")}


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state.value,
        progress=job.progress,
        progress_done=job.progress_done,
        progress_total=job.progress_total,
        params=job.params,
        summary=job.summary,
        rejects=job.rejects,
        rejects_total=job.rejects_total,
        error=job.error,
        attempts=job.attempts,
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.get("", response_model=JobList, summary="The caller's jobs, newest first")
def list_jobs(
    queue: JobQueueDep,
    owner: JobOwnerDep,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[list[JobState] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[str | None, Query(max_length=32, description="Page on past this job id.")] = None,
) -> JobList:
    jobs = queue.list(owner=owner, kind=kind, states=state, limit=limit, before=before)
    return JobList(jobs=[job_out(j) for j in jobs], next_before=jobs[-1].id if len(jobs) == limit else None)


@router.get(
    "/{job_id}", response_model=JobOut, responses=NOT_FOUND, summary="One job: state, progress, summary"
)
def get_job(job_id: JobPath, queue: JobQueueDep, owner: JobOwnerDep) -> JobOut:
    return job_out(queue.get(job_id, owner=owner))


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    responses=NOT_FOUND,
    summary="Cancel a job: at once if queued, at its next step if running",
)
def cancel_job(job_id: JobPath, queue: JobQueueDep, owner: JobOwnerDep) -> JobOut:
    return job_out(queue.cancel(job_id, owner=owner))
