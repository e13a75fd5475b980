"""lookalike ingest MANIFEST: load a catalog manifest, print the report and any rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from pydantic import ValidationError

from catalog_ingest import IngestReport, ingest_manifest
from catalog_ingest.feed import DEFAULT_MAX_REMOVE, FEED_MODES, FeedMode
from cli.options import ConfigOpt
from lookalike.errors import LookalikeError, ManifestError
from lookalike.settings import Settings, load_settings

SHOW_REJECTS = 20


def ingest(
    manifest: Annotated[
        Path,
        typer.Argument(metavar="MANIFEST", help="CSV/TSV, JSONL or Parquet with columns item_id, image, ..."),
    ],
    catalog: Annotated[
        str, typer.Option("--catalog", "-c", metavar="TEXT", help="Catalog to load into.")
    ] = "demo",
    config: ConfigOpt = None,
    images_root: Annotated[
        Path | None,
        typer.Option(
            "--images-root",
            metavar="PATH",
            help="Folder that relative image paths start from (default: the manifest's).",
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects", metavar="PATH", help="Rejects CSV (default: DATA_DIR/reports/CATALOG-rejects.csv)."
        ),
    ] = None,
    validate_only: Annotated[
        bool, typer.Option("--validate-only", help="Read, fetch and decode every row; load nothing.")
    ] = False,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            metavar="add|upsert|sync",
            help="add: only add (changed metadata of a stored item is a reject); upsert: update the "
            "items the manifest names; sync: upsert and remove the items it no longer names.",
        ),
    ] = "add",
    max_remove: Annotated[
        float,
        typer.Option(
            "--max-remove",
            min=0.0,
            max=1.0,
            metavar="SHARE",
            help="sync: refuse (change nothing) if more than this share of the catalog would be removed.",
        ),
    ] = DEFAULT_MAX_REMOVE,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    runner: Annotated[
        str,
        typer.Option(
            "--runner", metavar="local|ray", help="Run here, or as a Ray Data pipeline (docs/SCALE.md)."
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="auto|ray://HOST:PORT",
            help="Ray cluster to use (default: ray.address; unset: a local cluster in this process).",
        ),
    ] = None,
    as_job: Annotated[
        bool,
        typer.Option(
            "--as-job",
            help="Queue it as a job and print its id (`lookalike serve` or `lookalike jobs work` runs it).",
        ),
    ] = False,
) -> None:
    """Load a catalog manifest into the data folder and publish its search index.

    The data folder is data_dir (./var unless LOOKALIKE_DATA_DIR or --config says otherwise); the
    summary names it, and a server finds the catalog only when it reads the same folder. Bad rows
    are reported and skipped (exit 0); an unreadable manifest is an error (exit 2).
    """
    from service.jobs import RUNNERS, ingest_source
    from service.runtime import Runtime  # heavy imports only when the command runs

    try:
        settings = load_settings(config)
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    if runner not in RUNNERS:
        typer.echo(f"error: --runner must be one of {', '.join(RUNNERS)}, got {runner!r}", err=True)
        raise typer.Exit(2)
    if address is not None:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
    if as_job:
        _submit(settings, manifest, catalog, images_root, rejects, validate_only, mode, max_remove, runner)
        return
    try:
        report = ingest_manifest(
            Runtime(settings).ingest_parts(catalog),
            manifest,
            catalog,
            images_root=images_root,
            rejects_path=rejects,
            validate_only=validate_only,
            progress=not no_progress,
            mode=cast(FeedMode, mode),
            max_remove=max_remove,
            source=None if validate_only else ingest_source(settings, manifest, runner),
        )
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except LookalikeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:  # a full disk, a read-only data folder: nothing half-published
        typer.echo(
            f"error: could not write ({exc.strerror or exc}); the rows written so far are kept, the "
            "previous index version keeps serving, and running the same command again finishes the load",
            err=True,
        )
        raise typer.Exit(1) from exc
    typer.echo(render(report))


def _submit(
    settings: Settings,
    manifest: Path,
    catalog: str,
    images_root: Path | None,
    rejects: Path | None,
    validate_only: bool,
    mode: str = "add",
    max_remove: float = DEFAULT_MAX_REMOVE,
    runner: str = "local",
) -> None:
    from service.jobs import INGEST, ingest_params, job_queue

    if validate_only:
        typer.echo("error: --validate-only runs here and now; it cannot be queued", err=True)
        raise typer.Exit(2)
    if not manifest.is_file():
        typer.echo(f"error: manifest {manifest} is not a file", err=True)
        raise typer.Exit(2)
    if mode not in FEED_MODES:
        typer.echo(f"error: --mode must be one of {', '.join(FEED_MODES)}, got {mode!r}", err=True)
        raise typer.Exit(2)
    params = ingest_params(
        manifest,
        catalog,
        images_root=images_root,
        rejects_path=rejects,
        mode=mode,
        max_remove=max_remove if mode == "sync" else None,
    )
    params["runner"] = runner
    job = job_queue(settings).submit(INGEST, params)
    typer.echo(job.id)
    typer.echo(f"queued: see it with `lookalike jobs show {job.id}`", err=True)


def render(report: IngestReport) -> str:
    """The summary, then the first rejected rows (all of them are in the rejects CSV)."""
    lines = [report.summary()]
    if report.rejects:
        lines.append(f"rejected rows ({len(report.rejects)}):")
        lines += [
            f"  line {r.row}: {r.item_id or '-'} {r.image or '-'}: {r.reason}"
            for r in report.rejects[:SHOW_REJECTS]
        ]
        if len(report.rejects) > SHOW_REJECTS:
            lines.append(f"  ... {len(report.rejects) - SHOW_REJECTS} more in {report.rejects_path}")
    return "\n".join(lines)
