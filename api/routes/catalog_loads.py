"""Bulk loads over HTTP: a manifest (upload or URL) becomes a background ``catalog-load`` job.

The job runs the same ingest as ``lookalike ingest`` in the durable queue (``jobs/``): it
survives a server restart, reports progress and a rejects report, and publishes the index only
at its end (docs/JOBS.md). Images in a manifest sent over HTTP must be http(s) URLs: a tenant
never names a file on the server.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
from fastapi import APIRouter, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import ReadCatalog, TenancyDep, WriteCatalog, WriterCaller
from api.deps import HttpClientDep, JobOwnerDep, JobQueueDep, RuntimeDep
from api.fetch import parse_image_url
from api.inputs import read_capped
from api.problems import MalformedBodyError, documented_problem
from api.routes.jobs import job_out
from api.schemas import JobOut
from catalog_ingest.manifest import CSV_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES, read_manifest
from jobs import UnknownJobError
from lookalike.errors import ImageFetchError, ImageTooLargeError, InvalidParameterError, ManifestError
from service.catalog_loads import CATALOG_LOAD, catalog_load_params
from service.runtime import Runtime
from tenancy import Caller, CatalogRef, PlanLimitError, Tenancy

router = APIRouter(prefix="/v1/catalogs", tags=["catalogs"])

MAX_MANIFEST_BYTES = 200 * 1024 * 1024
SUFFIXES = (*CSV_SUFFIXES, *JSONL_SUFFIXES, *PARQUET_SUFFIXES)
JobPath = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]


RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented_problem("Malformed body"),
    401: documented_problem("No API key, or an unknown, expired or revoked one"),
    403: documented_problem("The key lacks catalog:write, or the load would pass the plan's max_items"),
    404: documented_problem("Unknown catalog"),
    413: documented_problem("Manifest over the size limit"),
    422: documented_problem(
        "Unreadable manifest, a row whose image is not an http(s) URL, or an unfetchable URL"
    ),
    429: documented_problem("Over the plan's request rate"),
}


class LoadUrl(BaseModel):
    manifest_url: str = Field(
        max_length=4096, description="An http(s) URL of a CSV, JSONL or Parquet manifest."
    )


async def _manifest_bytes(request: Request, http: httpx.AsyncClient, timeout_s: float) -> tuple[bytes, str]:
    """(bytes, suffix) from a multipart upload (field ``manifest``) or JSON ``{"manifest_url"}``."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_part_size=MAX_MANIFEST_BYTES)
        except Exception as exc:  # starlette raises several kinds for a broken multipart body
            raise MalformedBodyError(f"the multipart body does not parse: {exc}") from exc
        upload = form.get("manifest")
        if upload is None or isinstance(upload, str):
            raise InvalidParameterError("send the manifest as the file field 'manifest'")
        data = await upload.read()
        return data, Path(upload.filename or "manifest.csv").suffix.lower()
    if content_type.startswith("application/json"):
        try:
            body = LoadUrl.model_validate_json(await read_capped(request, 64 * 1024))
        except ValueError as exc:
            raise InvalidParameterError(f"the JSON body needs 'manifest_url': {exc}") from exc
        return await _fetch(http, body.manifest_url, timeout_s), Path(
            httpx.URL(body.manifest_url).path
        ).suffix.lower()
    raise InvalidParameterError("send a multipart upload (field 'manifest') or JSON {\"manifest_url\": ...}")


async def _fetch(http: httpx.AsyncClient, url: str, timeout_s: float) -> bytes:
    parsed = parse_image_url(url)
    try:
        with anyio.fail_after(timeout_s):
            response = await http.get(parsed, timeout=timeout_s)
    except (TimeoutError, httpx.HTTPError) as exc:
        raise ImageFetchError(f"{url}: could not be fetched ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise ImageFetchError(f"{url}: the server answered HTTP {response.status_code}")
    if len(response.content) > MAX_MANIFEST_BYTES:
        raise ImageTooLargeError(f"{url}: over the manifest limit of {MAX_MANIFEST_BYTES} bytes")
    return response.content


def _check(path: Path, ref: CatalogRef, caller: Caller, tenancy: Tenancy, runtime: Runtime) -> int:
    """Read the manifest now: a bad one is a 4xx at once, not a failed job later. Returns its rows."""
    try:
        rows = read_manifest(path)
    except ManifestError as exc:
        raise InvalidParameterError(str(exc).replace(str(path), "the manifest")) from exc
    for row in rows:
        image = row.values.get("image")
        if (
            isinstance(image, str)
            and image.strip()
            and not image.strip().lower().startswith(("http://", "https://"))
        ):
            raise InvalidParameterError(
                f"manifest row {row.number}: image {image!r} is not an http(s) URL "
                "(a manifest sent over HTTP names its images by URL)"
            )
    plan = caller.plan
    if plan is not None and plan.max_items is not None:
        ids = {str(r.values["item_id"]).strip() for r in rows if r.values.get("item_id") not in (None, "")}
        new = len(ids) - len(runtime.store.find_items(ref.storage, sorted(ids)))
        try:
            tenancy.check_items(caller, ref, new)
        except PlanLimitError as exc:
            raise PlanLimitError(
                exc.detail + " (the load is refused whole; nothing was loaded)",
                limit="max_items",
                value=plan.max_items,
            ) from exc
    return len(rows)


@router.post(
    "/{catalog}/loads",
    status_code=202,
    response_model=JobOut,
    summary="Bulk load a manifest (upload or URL) as a background job; poll the job for progress",
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["manifest"],
                        "properties": {"manifest": {"type": "string", "format": "binary"}},
                    }
                },
                "application/json": {"schema": LoadUrl.model_json_schema()},
            },
        }
    },
)
async def submit_load(
    request: Request,
    ref: WriteCatalog,
    caller: WriterCaller,
    tenancy: TenancyDep,
    runtime: RuntimeDep,
    queue: JobQueueDep,
    owner: JobOwnerDep,
    http: HttpClientDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    tenancy.check_model(caller, runtime.models.embedder_settings(ref.storage).spec)
    data, suffix = await _manifest_bytes(request, http, runtime.settings.api.fetch_timeout_s)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ImageTooLargeError(f"the manifest is over the limit of {MAX_MANIFEST_BYTES} bytes")
    if suffix not in SUFFIXES:
        raise InvalidParameterError(
            f"manifest must be one of {', '.join(SUFFIXES)}, not {suffix or 'no suffix'!r}"
        )
    folder = runtime.settings.data_dir / "uploads" / ref.storage / "manifests"
    load_id = uuid.uuid4().hex
    path = folder / f"{load_id}{suffix}"

    def save_and_submit() -> JobOut:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        _check(path, ref, caller, tenancy, runtime)
        reports = runtime.settings.data_dir / "reports" / f"{ref.storage}-load-{load_id}-rejects.csv"
        params = catalog_load_params(path, ref.storage, ref.name, caller.tenant_id, reports)
        job = queue.submit(CATALOG_LOAD, params, owner=owner, idempotency_key=idempotency_key)
        return public_job(job_out(job))

    out = await anyio.to_thread.run_sync(save_and_submit)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/catalogs/{ref.name}/loads/{out.id}"},
    )


def public_job(job: JobOut) -> JobOut:
    """A load as its tenant reads it: no server paths, the catalog by the tenant's name."""
    params = {k: v for k, v in job.params.items() if k in ("name",)}
    return job.model_copy(update={"params": params})


@router.get(
    "/{catalog}/loads/{job_id}",
    response_model=JobOut,
    summary="A bulk load: state, progress, rejects and the final summary",
    responses=RESPONSES,
)
def get_load(ref: ReadCatalog, job_id: JobPath, queue: JobQueueDep, owner: JobOwnerDep) -> JobOut:
    job = queue.get(job_id, owner=owner)
    if job.kind != CATALOG_LOAD or job.params.get("catalog") != ref.storage:
        raise UnknownJobError(f"there is no job {job_id!r}")
    return public_job(job_out(job))
