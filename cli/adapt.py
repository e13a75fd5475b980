"""lookalike adapt LABELLED_CSV --catalog NAME: fit a domain adapter from a retailer's labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cli.eval import render_fit
from cli.options import ConfigOpt
from lookalike.errors import LookalikeError, ManifestError


def adapt(
    labelled: Annotated[
        Path,
        typer.Argument(
            metavar="LABELLED_CSV",
            help=(
                "Labelled photos, one a row: item_id,image (like an ingest manifest). image is a local "
                "path, relative to the CSV's folder or absolute; item_id must be an item of the catalog."
            ),
        ),
    ],
    catalog: Annotated[str, typer.Option("--catalog", metavar="TEXT", help="The catalog the photos show.")],
    config: ConfigOpt = None,
    held_out: Annotated[
        float,
        typer.Option(
            "--held-out",
            min=0.0,
            max=0.9,
            metavar="SHARE",
            help="Share of each item's photos kept out of the fit to report recall before/after.",
        ),
    ] = 0.2,
    steps: Annotated[
        int,
        typer.Option(
            "--steps",
            min=0,
            metavar="N",
            help=(
                "Most training steps of the head (the best is kept); 0: no head, the closed-form "
                "projection alone (no gradient steps; the grocery recipe of docs/EMBEDDER.md)."
            ),
        ),
    ] = 600,
    shrinkage: Annotated[
        float,
        typer.Option(
            "--shrinkage",
            min=0.0,
            max=0.99,
            metavar="S",
            help=(
                "How far the projection pulls each item's photo scatter towards a plain sphere "
                "(0: the photos' own spread, near 1: little more than whitening). The grocery figures "
                "use 0.1; 0.7, best on grocery val/, lost 0.02 recall@1 on test (docs/EMBEDDER.md)."
            ),
        ),
    ] = 0.1,
    as_references: Annotated[
        bool,
        typer.Option(
            "--as-references",
            help=(
                "Also report recall with the labelled photos as extra reference images of their items "
                "(to use them so, ingest the same CSV into the catalog: lookalike ingest)."
            ),
        ),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the held-out split.")] = 0,
) -> None:
    """Fit a domain adapter for a catalog from photos that each name the catalog item they show.

    The configured embedder stays frozen: a small head on its vectors is trained (minutes on a CPU)
    so that each labelled photo lands nearest to its item's own catalog vectors, which must already
    be ingested with that embedder and no adapter; then a closed-form whitened linear discriminant
    projection (seconds) is fitted on the head's outputs, keeping the vectors' width. A share of the
    photos is held out and the command reports their recall@1 and @10 against the whole catalog
    with the frozen embedder and with the adapter.

    The adapter is written to DATA_DIR/adapters/CATALOG/adapter-HASH.pt (report beside it, .json);
    an older one is never overwritten. To use it, point the setting embedder.adapter at the file
    (LOOKALIKE_EMBEDDER__ADAPTER=PATH or [embedder] adapter = "PATH" in the TOML), then ingest the
    catalog again. The vectors' name gains +adapter-HASH: a server refuses an index built with
    another adapter or none until the catalog is ingested with this one, so vectors never mix.

    Example: lookalike adapt shop-photos.csv --catalog shop --as-references

    Best measured (grocery test recall@1 0.883, @10 0.998; docs/EMBEDDER.md): ingest and fit with
    embedder.spec = "product_tuned" and embedder.colour_histogram = true, and --steps 0 (the
    projection alone, no head).
    """
    from lookalike.settings import load_settings
    from service.adaptation import adapt_catalog
    from service.runtime import Runtime

    try:
        settings = load_settings(config)
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        result = adapt_catalog(
            Runtime(settings),
            catalog,
            labelled,
            held_out_share=held_out,
            max_steps=steps,
            measure_references=as_references,
            seed=seed,
            shrinkage=shrinkage,
        )
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (LookalikeError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(render_fit(result.report.as_dict()))
    typer.echo(f"adapter: {result.path}")
    typer.echo(f"vectors: {result.spec}")
    typer.echo(f"use it: LOOKALIKE_EMBEDDER__ADAPTER={result.path} lookalike ingest ... --catalog {catalog}")


__all__ = ["adapt"]
