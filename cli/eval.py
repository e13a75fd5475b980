"""lookalike eval BENCHMARK_DIR: recall of the configured pipeline on a benchmark folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from cli.options import ConfigOpt
from lookalike.errors import LookalikeError, ManifestError


def eval_command(
    benchmark: Annotated[
        Path,
        typer.Argument(metavar="BENCHMARK_DIR", help="Benchmark folder with catalog.csv and queries.jsonl."),
    ],
    config: ConfigOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="PATH", help="Report folder (default: DATA_DIR/eval/BENCHMARK_NAME)."),
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector", metavar="TEXT", help="Query detector spec override, e.g. 'none' or 'blocks'."
        ),
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option("--embedder", metavar="TEXT", help="Embedder spec override, e.g. 'efficientnet_lite0'."),
    ] = None,
    ocr: Annotated[
        str | None,
        typer.Option(
            "--ocr", metavar="MODE", help="Read query text: off, auto or always (understanding.ocr override)."
        ),
    ] = None,
    adapt: Annotated[
        Path | None,
        typer.Option(
            "--adapt",
            metavar="CSV",
            help=(
                "Labelled photos (item_id,image) to fit a domain adapter from first (lookalike adapt); "
                "the run then uses it. The grocery benchmark writes its train/ photos as adapt.csv."
            ),
        ),
    ] = None,
    as_references: Annotated[
        bool,
        typer.Option(
            "--as-references", help="With --adapt: also ingest the labelled photos as images of their items."
        ),
    ] = False,
    adapt_steps: Annotated[
        int,
        typer.Option(
            "--adapt-steps",
            min=0,
            metavar="N",
            help=(
                "With --adapt: most steps of the adapter's head; 0: the projection alone "
                "(lookalike adapt --steps)."
            ),
        ),
    ] = 600,
    adapt_shrinkage: Annotated[
        float,
        typer.Option(
            "--adapt-shrinkage",
            min=0.0,
            max=0.99,
            metavar="S",
            help="With --adapt: the projection's within-item shrinkage (lookalike adapt --shrinkage).",
        ),
    ] = 0.1,
    colour: Annotated[
        bool,
        typer.Option("--colour", help="Append colour histograms to the vectors (embedder.colour_histogram)."),
    ] = False,
    flip_average: Annotated[
        bool, typer.Option("--flip-average", help="Average each crop's vector with its mirror image's.")
    ] = False,
    whole_image_fusion: Annotated[
        float | None,
        typer.Option(
            "--whole-image-fusion",
            min=0.0,
            max=10.0,
            metavar="W",
            help="Weight of the whole image in each region's scores (search.whole_image_fusion override).",
        ),
    ] = None,
    query_expansion: Annotated[
        int | None,
        typer.Option(
            "--query-expansion",
            min=0,
            max=20,
            metavar="N",
            help="Alpha query expansion with the N nearest catalog vectors (search.query_expansion).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, metavar="N", help="Only the first N queries.")
    ] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
) -> None:
    """Measure search quality on a benchmark folder (catalog.csv + queries.jsonl).

    Ingests the benchmark's catalog once (cached under data_dir/cache/eval), searches every query
    exactly as the API does, prints recall and latency, and writes report.md, report.json,
    results.jsonl and plots. Build the shipped benchmarks with python -m
    evaluation.datasets.grocery or evaluation.datasets.clothing_screenshots (docs/EVALUATION.md).
    """
    from evaluation.benchmark import load_benchmark
    from evaluation.report import write_report
    from evaluation.runner import run_benchmark
    from lookalike.settings import load_settings, with_fields

    try:
        settings = load_settings(config)
        settings = with_fields(settings, "detector", spec=detector)
        settings = with_fields(
            settings,
            "embedder",
            spec=embedder,
            colour_histogram=True if colour else None,
            flip_average=True if flip_average else None,
        )
        settings = with_fields(
            settings, "search", whole_image_fusion=whole_image_fusion, query_expansion=query_expansion
        )
        if ocr is not None:
            settings = settings.model_copy(
                update={
                    "understanding": type(settings.understanding).model_validate(
                        {**settings.understanding.model_dump(), "ocr": ocr}
                    )
                }
            )
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_references and adapt is None:
        typer.echo("error: --as-references needs --adapt CSV", err=True)
        raise typer.Exit(2)
    try:
        bench = load_benchmark(benchmark)
        folder = out or settings.data_dir / "eval" / bench.name
        if adapt is not None:
            from evaluation.adaptation import adapt_benchmark

            bench, settings, fit = adapt_benchmark(
                bench,
                settings,
                adapt,
                folder,
                as_references=as_references,
                max_steps=adapt_steps,
                shrinkage=adapt_shrinkage,
            )
            typer.echo(render_fit(fit.as_dict()))
        run = run_benchmark(bench, settings, limit=limit, progress=not no_progress)
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (LookalikeError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    report = write_report(run, folder)
    typer.echo(render(report))
    typer.echo(f"report: {folder / 'report.md'} (and report.json, results.jsonl, plots)")


def render_fit(fit: dict[str, Any]) -> str:
    """The adapter fit's before/after table on its own held-out labelled photos."""
    lines = [
        f"adapter: {fit['photos']} labelled photos of {fit['items_with_photos']} items "
        f"({fit['held_out']} held out), {fit['catalog_items']} catalog items, {fit['steps']} steps, "
        f"{fit['seconds']:.0f} s",
        f"{'held-out photos':24}{'@1':>8}{'@10':>8}",
    ]
    for name, vals in fit["recall"].items():
        lines.append(f"{name:24}{vals['@1']:8.3f}{vals['@10']:8.3f}")
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    """The console table: recall rows, then the single-number metrics and latency."""
    m, c, b = report["metrics"], report["config"], report["benchmark"]
    ks = ("1", "5", "10", "20")
    rows = [("item recall", m["recall"])]
    if "category_recall" in m:
        rows.append(("category recall", m["category_recall"]))
    if "region_recall" in m:
        rows.append(("region recall", m["region_recall"]))
    lines = [
        f"{b['name']}: {b['queries']} queries, {b['catalog_items']} items | embedder {c['embedder']} | "
        f"detector {c['detector']} | {report['wall_s']:.0f} s",
        f"{'':18}" + "".join(f"{'@' + k:>8}" for k in ks),
    ]
    lines += [f"{name:18}" + "".join(f"{vals[k]:8.3f}" for k in ks) for name, vals in rows]
    lines.append(f"mAP@10 {m['map@10']:.3f}   MRR {m['mrr']:.3f}   no results {m['no_results']}")
    if "detection@iou0.5" in m:
        d = m["detection@iou0.5"]
        lines.append(
            f"boxes @IoU0.5: recall {d['recall']:.3f} precision {d['precision']:.3f} "
            f"({d.get('ignored_detections', 0)} ignored detections)"
        )
    lat = m["latency_ms"]
    lines.append(
        "latency ms p50/p95: " + ", ".join(f"{s} {v['p50']:.0f}/{v['p95']:.0f}" for s, v in lat.items())
    )
    return "\n".join(lines)


__all__ = ["eval_command", "render", "render_fit"]
