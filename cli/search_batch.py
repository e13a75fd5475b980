"""lookalike search-batch QUERIES: search every image of a manifest, results to one Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.options import ConfigOpt
from lookalike.errors import LookalikeError, ManifestError
from lookalike.settings import load_settings


def search_batch(
    queries: Annotated[
        Path,
        typer.Argument(
            metavar="QUERIES", help="CSV/TSV, JSONL or Parquet with a column image (and query_id)."
        ),
    ],
    catalog: Annotated[
        str, typer.Option("--catalog", "-c", metavar="TEXT", help="Catalog to search.")
    ] = "demo",
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="PATH", help="Results Parquet file (rejects beside it).")
    ] = Path("results.parquet"),
    k: Annotated[int, typer.Option("--k", min=1, max=100, metavar="N", help="Matches per region.")] = 10,
    regions: Annotated[str, typer.Option("--regions", metavar="auto|none|all")] = "auto",
    runner: Annotated[
        str, typer.Option("--runner", metavar="local|ray", help="Search here, or on Ray.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option("--address", metavar="auto|ray://HOST:PORT", help="Ray cluster (with --runner ray)."),
    ] = None,
    as_job: Annotated[
        bool, typer.Option("--as-job", help="Queue it as a job and print its id (see `lookalike jobs`).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Search every query image of a manifest against a catalog, as a bulk job.

    Writes one row per query region and match (query_id, region box, rank, item_id, score...) to
    --out, and the queries that could not be searched, with the reason, to OUT-rejects.parquet.
    An interrupted run started again with the same --out resumes where it stopped.
    """
    from service.bulk_search import BulkOptions, chunk_source, run_bulk
    from service.jobs import SEARCH_BATCH, job_queue
    from service.runtime import Runtime

    settings = load_settings(config)
    if address is not None:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
    options = BulkOptions(catalog=catalog, k=k, regions=regions)
    try:
        options.check()
        if as_job:
            params = {
                "manifest": str(queries.resolve()),
                "catalog": catalog,
                "k": k,
                "regions": regions,
                "out": str(out.resolve()),
                "runner": runner,
            }
            job = job_queue(settings).submit(SEARCH_BATCH, params)
            typer.echo(job.id)
            typer.echo(f"queued: see it with `lookalike jobs show {job.id}`", err=True)
            return
        runtime = Runtime(settings)
        runtime.search.indexes.get(catalog)
        summary = run_bulk(chunk_source(runtime, queries, options, runner=runner), out)
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except LookalikeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{summary.queries} queries: {summary.searched} searched, {summary.rejected} rejected; "
        f"{summary.result_rows} result rows in {summary.results_path}, rejects in {summary.rejects_path}"
    )
