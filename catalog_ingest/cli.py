"""``lookalike ingest MANIFEST``: load a catalog manifest, print the report and any rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from catalog_ingest.pipeline import ingest_manifest
from catalog_ingest.report import IngestReport
from lookalike.errors import LookalikeError, ManifestError
from lookalike.settings import load_settings

SHOW_REJECTS = 20
SHOW_UNREFERENCED = 10


def ingest(
    manifest: Annotated[
        Path, typer.Argument(help="CSV/TSV, JSONL or Parquet with columns item_id, image, ...")
    ],
    catalog: Annotated[str, typer.Option("--catalog", "-c", help="Catalog to load into.")] = "demo",
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    images_root: Annotated[
        Path | None,
        typer.Option(
            "--images-root", help="Folder that relative image paths start from (default: the manifest's)."
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Rejects CSV (default: <data_dir>/reports/<catalog>-rejects.csv)."),
    ] = None,
    validate_only: Annotated[
        bool, typer.Option("--validate-only", help="Read, fetch and decode every row; load nothing.")
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Load a catalog manifest: bad rows are reported (exit 0), an unreadable manifest is an error."""
    from lookalike.runtime import Runtime  # heavy imports only when the command runs

    try:
        settings = load_settings(config)
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        report = ingest_manifest(
            Runtime(settings),
            manifest,
            catalog,
            images_root=images_root,
            rejects_path=rejects,
            validate_only=validate_only,
            progress=not no_progress,
        )
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except LookalikeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(render(report))


def render(report: IngestReport) -> str:
    lines = [report.summary()]
    if report.rejects:
        lines.append(f"rejected rows ({len(report.rejects)}):")
        lines += [
            f"  line {r.row}: {r.item_id or '-'} {r.image or '-'}: {r.reason}"
            for r in report.rejects[:SHOW_REJECTS]
        ]
        if len(report.rejects) > SHOW_REJECTS:
            lines.append(f"  ... {len(report.rejects) - SHOW_REJECTS} more in {report.rejects_path}")
    if report.unreferenced_images:
        lines.append(f"image files no row references ({len(report.unreferenced_images)}):")
        lines += [f"  {name}" for name in report.unreferenced_images[:SHOW_UNREFERENCED]]
        if len(report.unreferenced_images) > SHOW_UNREFERENCED:
            lines.append(f"  ... {len(report.unreferenced_images) - SHOW_UNREFERENCED} more")
    return "\n".join(lines)
