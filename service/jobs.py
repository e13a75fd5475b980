"""The jobs this service runs in the background, and the queue they wait in (``jobs/``).

``ingest``: load a catalog manifest (params ``manifest``, ``catalog``, optional ``images_root``,
``rejects_path`` and ``runner``: "local" or "ray"). It is idempotent, so a job whose worker died
runs again and skips what was stored; cancelled or killed, it never publishes an index.

``search-batch``: search every image of a query manifest (params ``manifest``, ``catalog``,
optional ``k``, ``regions``, ``out``, ``runner``, ``urls_only``); results go to a Parquet file
(default ``data_dir/jobs/ID/results.parquet``). A rerun resumes from the chunks already written.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from catalog_ingest import IngestReport, ingest_manifest
from catalog_ingest.feed import DEFAULT_MAX_REMOVE
from catalog_ingest.pipeline import RowSource
from jobs import MAX_STORED_REJECTS, Handler, Job, JobContext, JobQueue, JobRunner, Outcome
from lookalike.errors import InvalidParameterError
from lookalike.settings import Settings
from service.bulk_search import BulkOptions, chunk_source, run_bulk
from service.runtime import Runtime

INGEST = "ingest"
SEARCH_BATCH = "search-batch"
RUNNERS = ("local", "ray")


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
        manifest = Path(params["manifest"])
        report = ingest_manifest(
            runtime.ingest_parts(params["catalog"]),
            manifest,
            params["catalog"],
            images_root=_path(params.get("images_root")),
            rejects_path=_path(params.get("rejects_path")),
            progress=False,
            on_progress=lambda done, total: context.progress(done, total),
            mode=params.get("mode", "add"),
            max_remove=float(params.get("max_remove", DEFAULT_MAX_REMOVE)),
            source=ingest_source(runtime.settings, manifest, _runner(params)),
        )
        return ingest_outcome(report)

    return run


def ingest_source(settings: Settings, manifest: Path, runner: str) -> RowSource | None:
    """None: the local loop; "ray": a Ray Data pipeline on the cluster in ``settings.ray``."""
    if runner == "ray":
        from on_ray.ingest import RaySource

        return RaySource(settings, manifest)
    return None


def _runner(params: dict[str, Any]) -> str:
    runner = params.get("runner", "local")
    if runner not in RUNNERS:
        raise InvalidParameterError(f"runner must be one of {', '.join(RUNNERS)}, got {runner!r}")
    return str(runner)


def search_batch_results(settings: Settings, job_id: str) -> Path:
    """Where a bulk search job writes its results unless its params say ``out``."""
    return settings.data_dir / "jobs" / job_id / "results.parquet"


def search_batch_handler(runtime: Runtime) -> Handler:
    def run(job: Job, context: JobContext) -> Outcome:
        params = job.params
        if not isinstance(params.get("manifest"), str) or not isinstance(params.get("catalog"), str):
            raise InvalidParameterError("a search-batch job needs 'manifest' and 'catalog'")
        options = BulkOptions(
            catalog=params["catalog"],
            k=int(params.get("k", 10)),
            regions=str(params.get("regions", "auto")),
            urls_only=bool(params.get("urls_only", False)),
            allow_private_networks=runtime.settings.api.fetch_allow_private_networks,
        )
        options.check()
        runtime.search.indexes.get(options.catalog)  # an unknown catalog fails the job here
        out = _path(params.get("out")) or search_batch_results(runtime.settings, job.id)
        manifest = Path(params["manifest"])
        source = chunk_source(runtime, manifest, options, runner=_runner(params))
        summary = run_bulk(source, out, job_id=job.id, on_progress=lambda done: context.progress(done))
        rejects = read_rejects(summary.rejects_path)
        return Outcome(summary=summary.as_dict(), rejects=rejects, rejects_total=summary.rejected)

    return run


def read_rejects(path: Path, limit: int = MAX_STORED_REJECTS) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).slice(0, limit).to_pylist()


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

    return {
        INGEST: ingest_handler(runtime),
        CATALOG_LOAD: catalog_load_handler(runtime),
        SEARCH_BATCH: search_batch_handler(runtime),
    }


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
