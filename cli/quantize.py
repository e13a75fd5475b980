"""lookalike quantize detector|embedder: int8 copies made and checked on training data only."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cli.options import ConfigOpt

quantize_app = typer.Typer(
    no_args_is_help=True,
    help=(
        "Make int8 copies of the models with NNCF (accuracy-controlled post-training quantisation), "
        "calibrated and checked on training data only. precision='auto' takes a copy that kept its "
        "metric within --max-drop; precision='int8' pins it (docs/PRECISION.md)."
    ),
)

MaxDrop = Annotated[
    float, typer.Option("--max-drop", min=0.0, max=1.0, help="Largest absolute metric drop adopted.")
]


def _settings(config: Path | None):  # type: ignore[no-untyped-def]
    from lookalike.settings import load_settings

    try:
        return load_settings(config)
    except ValidationError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def _require_nncf() -> None:
    import importlib.util

    if importlib.util.find_spec("nncf") is None:
        typer.echo("error: quantising needs NNCF: pip install 'lookalike[quantize]'", err=True)
        raise typer.Exit(2)


@quantize_app.command("embedder")
def quantize_embedder_command(
    clothing_dir: Annotated[
        Path, typer.Option("--clothing-dir", metavar="PATH", help="Shared clothing data (calibration).")
    ],
    grocery_dir: Annotated[
        Path, typer.Option("--grocery-dir", metavar="PATH", help="Shared grocery data (train/ split only).")
    ],
    config: ConfigOpt = None,
    calibration_images: Annotated[int, typer.Option("--calibration-images", min=10)] = 300,
    validation_images: Annotated[int, typer.Option("--validation-images", min=10)] = 400,
    max_drop: MaxDrop = 0.005,
) -> None:
    """int8 copy of the configured embedder; its vectors are a vector space of their own."""
    _require_nncf()
    from quantize import quantize_embedder

    settings = _settings(config)
    for folder, what in ((clothing_dir, "images.csv"), (grocery_dir, "train.txt")):
        if not (folder / what).is_file():
            typer.echo(f"error: {folder / what} not found", err=True)
            raise typer.Exit(2)
    result = quantize_embedder(
        settings.embedder,
        settings.onnx_dir,
        clothing_dir=clothing_dir,
        grocery_dir=grocery_dir,
        calibration_images=calibration_images,
        validation_images=validation_images,
        max_drop=max_drop,
    )
    typer.echo(json.dumps(asdict(result), indent=1))


@quantize_app.command("detector")
def quantize_detector_command(
    dataset: Annotated[
        Path,
        typer.Argument(
            metavar="DATASET_DIR",
            help="A detector dataset (lookalike detector make-dataset): train images calibrate, val check.",
        ),
    ],
    config: ConfigOpt = None,
    calibration_images: Annotated[int, typer.Option("--calibration-images", min=10)] = 200,
    validation_images: Annotated[int, typer.Option("--validation-images", min=10)] = 120,
    max_drop: MaxDrop = 0.005,
) -> None:
    """int8 copies of the configured YOLO detector at the square and phone-screenshot inputs."""
    _require_nncf()
    from quantize import quantize_detector

    settings = _settings(config)
    try:
        results = quantize_detector(
            settings.detector,
            settings.onnx_dir,
            dataset,
            calibration_images=calibration_images,
            validation_images=validation_images,
            max_drop=max_drop,
        )
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps([asdict(r) for r in results], indent=1))
