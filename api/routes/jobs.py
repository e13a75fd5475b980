"""GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel: the caller's background jobs.

Every read is scoped by ``JobOwnerDep`` (the tenant, once tenancy says who calls), so one owner
never sees another's jobs: an unknown and a foreign job are the same 404.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import httpx
from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from api.deps import HttpClientDep, JobOwnerDep, JobQueueDep, RuntimeDep, SettingsDep
from api.fetch import fetch_image, parse_image_url
from api.problems import documented_problem
from api.schemas import CATALOG_PATTERN, JobList, JobOut
from jobs import Job, JobQueue, JobState, UnknownJobError
from lookalike.errors import ClientError, InvalidParameterError
from service.jobs import SEARCH_BATCH
from service.search import MAX_K

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobPath = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: documented_problem("Unknown job")}
PRIVATE_PARAMS = frozenset({"manifest", "out", "images_root", "rejects_path"})
"""Where a job reads and writes on the server's disk: never shown to clients."""


class ManifestTooLargeError(ClientError):
    status = 413
    title = "Manifest too large"


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state.value,
        progress=job.progress,
        progress_done=job.progress_done,
        progress_total=job.progress_total,
        params={k: v for k, v in job.params.items() if k not in PRIVATE_PARAMS},
        summary=None
        if job.summary is None
        else {k: None if k.endswith("_path") else v for k, v in job.summary.items()},
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


PARQUET = "application/vnd.apache.parquet"
MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")


@router.post(
    "",
    response_model=JobOut,
    status_code=202,
    responses={
        404: documented_problem("Unknown catalog"),
        413: documented_problem("Manifest too large"),
        422: documented_problem("Bad form"),
    },
    summary="Queue a bulk search: a manifest of query image URLs in, a Parquet file of matches out",
)
async def submit_search_batch(
    request: Request,
    response: Response,
    queue: JobQueueDep,
    owner: JobOwnerDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    http: HttpClientDep,
    catalog: Annotated[str, Form(min_length=1, max_length=100, pattern=CATALOG_PATTERN)],
    manifest: Annotated[
        UploadFile | None,
        File(description="CSV/TSV, JSONL or Parquet: a column image (http(s) URLs), optionally query_id."),
    ] = None,
    manifest_url: Annotated[str | None, Form(description="... or where to fetch that manifest.")] = None,
    k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
    regions: Annotated[Literal["auto", "none", "all"], Form()] = "auto",
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """The job searches every image of the manifest; follow it at ``Location``, then download
    ``/v1/jobs/{id}/results`` (and ``/rejects``) as Parquet when it has succeeded."""
    await anyio.to_thread.run_sync(runtime.store.get_catalog, catalog)  # 404 for an unknown catalog
    data, name = await _manifest_bytes(manifest, manifest_url, http, settings.jobs.max_manifest_bytes)
    suffix = Path(name).suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise InvalidParameterError(f"manifest {name!r} must end in one of {', '.join(MANIFEST_SUFFIXES)}")
    path = settings.data_dir / "jobs" / "uploads" / f"{uuid.uuid4().hex}{suffix}"
    await anyio.to_thread.run_sync(_save, path, data)
    params = {
        "manifest": str(path.resolve()),
        "catalog": catalog,
        "k": k,
        "regions": regions,
        "urls_only": True,
        "runner": settings.jobs.bulk_runner,
    }
    job = await anyio.to_thread.run_sync(
        lambda: queue.submit(SEARCH_BATCH, params, owner=owner, idempotency_key=idempotency_key)
    )
    response.headers["Location"] = str(request.url_for("get_job", job_id=job.id))
    return job_out(job)


async def _manifest_bytes(
    upload: UploadFile | None, url: str | None, http: httpx.AsyncClient, limit: int
) -> tuple[bytes, str]:
    if (upload is None) == (url is None):
        raise InvalidParameterError("send exactly one of manifest (a file) and manifest_url")
    if upload is not None:
        data = await upload.read(limit + 1)
        name = upload.filename or "manifest"
    else:
        assert url is not None
        data = await fetch_image(http, str(parse_image_url(url)), max_bytes=limit, timeout_s=30.0)
        name = httpx.URL(url).path
    if len(data) > limit:
        raise ManifestTooLargeError(
            f"the manifest is over the limit of {limit} bytes (jobs.max_manifest_bytes)"
        )
    return data, name


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _finished_file(queue: JobQueue, job_id: str, owner: str, key: str) -> FileResponse:
    job = queue.require(job_id, JobState.SUCCEEDED, owner=owner)
    where = (job.summary or {}).get(key)
    if job.kind != SEARCH_BATCH or not where or not Path(where).is_file():
        raise UnknownJobError(f"job {job_id} has no {key.removesuffix('_path')} file")
    return FileResponse(where, media_type=PARQUET, filename=f"{job_id}-{key.removesuffix('_path')}.parquet")


@router.get(
    "/{job_id}/results",
    response_class=FileResponse,
    responses={**NOT_FOUND, 409: documented_problem("The job has not succeeded (yet)")},
    summary="A bulk search's results as Parquet: one row per query region and match",
)
def job_results(job_id: JobPath, queue: JobQueueDep, owner: JobOwnerDep) -> FileResponse:
    return _finished_file(queue, job_id, owner, "results_path")


@router.get(
    "/{job_id}/rejects",
    response_class=FileResponse,
    responses={**NOT_FOUND, 409: documented_problem("The job has not succeeded (yet)")},
    summary="A bulk search's rejected queries as Parquet: query_id, image, reason",
)
def job_rejects(job_id: JobPath, queue: JobQueueDep, owner: JobOwnerDep) -> FileResponse:
    return _finished_file(queue, job_id, owner, "rejects_path")
