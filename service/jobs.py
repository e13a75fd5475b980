"""The jobs this service runs in the background, and the queue they wait in (``jobs/``).

``ingest``: load a catalog manifest (params ``manifest``, ``catalog``, optional ``images_root``
and ``rejects_path``: paths the worker can read). It is idempotent, so a job whose worker died
runs again and skips what was stored; cancelled or killed, it never publishes an index.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from catalog_ingest import IngestReport, ingest_manifest
from catalog_ingest.feed import DEFAULT_MAX_REMOVE
from jobs import Handler, Job, JobContext, JobQueue, JobRunner, Outcome
from lookalike.errors import InvalidParameterError
from lookalike.settings import Settings
from service.runtime import Runtime

INGEST = "ingest"


def job_queue(settings: Settings, *, migrate: bool = True) -> JobQueue:
    """The queue in the settings' database (migrated on first use unless ``migrate`` is False: the
    server makes it before its database is up, and migrates it when the database comes)."""
    return JobQueue(settings.db_url, max_attempts=settings.jobs.max_attempts, migrate=migrate)


def ingest_params(
    manifest: Path,
    catalog: str,
    *,
    images_root: Path | None = None,
    rejects_path: Path | None = None,
    mode: str = "add",
    max_remove: float | None = None,
) -> dict[str, Any]:
    """An ingest job's params, with absolute paths (the worker may run in another folder); a feed
    mode (``catalog_ingest.feed``) travels with it."""
    params: dict[str, Any] = {"manifest": str(manifest.resolve()), "catalog": catalog}
    if mode != "add":
        params["mode"] = mode
    if max_remove is not None:
        params["max_remove"] = max_remove
    if images_root is not None:
        params["images_root"] = str(images_root.resolve())
    if rejects_path is not None:
        params["rejects_path"] = str(rejects_path.resolve())
    return params


def ingest_handler(runtime: Runtime) -> Handler:
    def run(job: Job, context: JobContext) -> Outcome:
        params = job.params
        if not isinstance(params.get("manifest"), str) or not isinstance(params.get("catalog"), str):
            raise InvalidParameterError("an ingest job needs 'manifest' and 'catalog'")
        report = ingest_manifest(
            runtime.ingest_parts(params["catalog"]),
            Path(params["manifest"]),
            params["catalog"],
            images_root=_path(params.get("images_root")),
            rejects_path=_path(params.get("rejects_path")),
            progress=False,
            on_progress=lambda done, total: context.progress(done, total),
            mode=params.get("mode", "add"),
            max_remove=float(params.get("max_remove", DEFAULT_MAX_REMOVE)),
        )
        return ingest_outcome(report)

    return run


def ingest_outcome(report: IngestReport) -> Outcome:
    summary = {
        "catalog": report.catalog,
        "rows": report.rows,
        "loaded_items": report.loaded_items,
        "loaded_images": report.loaded_images,
        "duplicates": report.duplicates,
        "rejected": report.skipped,
        "embedded_images": report.embedded_images,
        "reused_images": report.reused_images,
        "indexed_vectors": report.indexed_vectors,
        "index_version": report.index_version,
        "published": report.published,
        "images_per_s": round(report.images_per_s, 2),
        "elapsed_s": round(report.elapsed_s, 2),
        "rejects_path": str(report.rejects_path) if report.rejects_path else None,
        **(
            {
                "mode": report.mode,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "unchanged": report.unchanged,
            }
            if report.mode != "add"
            else {}
        ),
    }
    return Outcome(summary=summary, rejects=[asdict(r) for r in report.rejects])


def job_handlers(runtime: Runtime) -> dict[str, Handler]:
    """Every kind of job this service knows, by name."""
    from service.catalog_loads import CATALOG_LOAD, catalog_load_handler  # it builds on this module

    return {INGEST: ingest_handler(runtime), CATALOG_LOAD: catalog_load_handler(runtime)}


def job_runner(runtime: Runtime, queue: JobQueue | None = None) -> JobRunner:
    settings = runtime.settings.jobs
    return JobRunner(
        queue or job_queue(runtime.settings),
        job_handlers(runtime),
        lease_s=settings.lease_s,
        poll_s=settings.poll_s,
    )


def _path(value: object) -> Path | None:
    return Path(value) if isinstance(value, str) and value else None
