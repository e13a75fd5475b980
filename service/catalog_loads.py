"""The ``catalog-load`` job: a manifest sent over HTTP loaded into a tenant's catalog.

The same ingest as ``lookalike ingest`` (and the ``ingest`` job), plus what a tenant's load
needs: the catalog must still exist (a catalog deleted while its load waited is not recreated),
and the images it stored are metered to the tenant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog_ingest import ingest_manifest
from jobs import Handler, Job, JobContext, Outcome
from lookalike.errors import InvalidParameterError
from service.jobs import ingest_outcome
from service.runtime import Runtime
from tenancy import TenancyStore

CATALOG_LOAD = "catalog-load"


def catalog_load_params(
    manifest: Path, catalog: str, name: str, tenant_id: int | None, reports: Path
) -> dict[str, Any]:
    """A load's params: the saved manifest, the catalog's storage and own names, the rejects file."""
    return {
        "manifest": str(manifest.resolve()),
        "catalog": catalog,
        "name": name,
        "tenant_id": tenant_id,
        "rejects_path": str(reports.resolve()),
    }


def catalog_load_handler(runtime: Runtime) -> Handler:
    def run(job: Job, context: JobContext) -> Outcome:
        params = job.params
        if not isinstance(params.get("manifest"), str) or not isinstance(params.get("catalog"), str):
            raise InvalidParameterError("a catalog-load job needs 'manifest' and 'catalog'")
        runtime.store.get_catalog(params["catalog"])  # deleted meanwhile: the job fails, 404's words
        report = ingest_manifest(
            runtime.ingest_parts(params["catalog"]),
            Path(params["manifest"]),
            params["catalog"],
            rejects_path=Path(params["rejects_path"]) if params.get("rejects_path") else None,
            progress=False,
            on_progress=lambda done, total: context.progress(done, total),
        )
        tenant_id = params.get("tenant_id")
        if isinstance(tenant_id, int):
            tenancy = TenancyStore(runtime.store.engine)
            tenancy.record(tenant_id, images_ingested=report.loaded_images)
            tenancy.refresh_storage(tenant_id)
        outcome = ingest_outcome(report)
        # The tenant's own name for the catalog; no server paths in what the tenant reads.
        outcome.summary.update(catalog=params.get("name", params["catalog"]), rejects_path=None)
        return outcome

    return run


__all__ = ["CATALOG_LOAD", "catalog_load_handler", "catalog_load_params"]
