"""lookalike detector: make training data from catalog photos, train, evaluate and ship a detector."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import group

if TYPE_CHECKING:
    from detector.training.dataset import PeoplePool

detector_app = group("Make training data from catalog photos, then train, evaluate and ship a detector.")


@detector_app.command("make-dataset")
def make_dataset_command(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="PATH", help="Dataset folder to write (images/, labels/, data.yaml)."),
    ],
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", metavar="PATH", help="Catalog CSV with item_id,image,category columns."),
    ] = None,
    images_root: Annotated[
        Path | None,
        typer.Option("--images-root", metavar="PATH", help="Folder relative image paths resolve against."),
    ] = None,
    clothing_dir: Annotated[
        Path | None,
        typer.Option(
            "--clothing-dir", metavar="PATH", help="Read the shared clothing dataset directly instead."
        ),
    ] = None,
    class_map: Annotated[
        Path | None,
        typer.Option(
            "--class-map",
            metavar="PATH",
            help="JSON/YAML {classes: [...], categories: {category: class|null}}.",
        ),
    ] = None,
    exclude_items: Annotated[
        list[Path] | None,
        typer.Option("--exclude-items", metavar="FILE", help="File of item ids never to use (repeatable)."),
    ] = None,
    exclude_clothing_benchmark: Annotated[
        bool,
        typer.Option(
            "--exclude-clothing-benchmark/--no-exclude-clothing-benchmark",
            help="Drop the clothing-screenshots benchmark's held-back items (its default seed and sizes).",
        ),
    ] = True,
    train_images: Annotated[
        int, typer.Option("--train-images", min=0, metavar="N", help="Training images to compose.")
    ] = 1600,
    val_images: Annotated[
        int, typer.Option("--val-images", min=0, metavar="N", help="Validation images to compose.")
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", metavar="N")] = 20261123,
    max_side: Annotated[
        int, typer.Option("--max-side", min=32, metavar="PIXELS", help="Long side of stored images.")
    ] = 416,
    only_items: Annotated[
        Path | None,
        typer.Option(
            "--only-items", metavar="PATH", help="File of item ids: use only these (e.g. a test set)."
        ),
    ] = None,
    val_items: Annotated[
        float,
        typer.Option(
            "--val-items", min=0.0, max=1.0, metavar="SHARE", help="Share of items reserved for val images."
        ),
    ] = 0.12,
    screen_photo: Annotated[
        float,
        typer.Option(
            "--screen-photo", min=0.0, max=1.0, metavar="SHARE", help="Share of photos-of-a-screen."
        ),
    ] = 0.1,
    layouts: Annotated[
        str | None,
        typer.Option(
            "--layouts",
            metavar="TEXT",
            help="Layout mix, e.g. 'grid=0.4,negative=0.1' (default: the training mix, people too if given).",
        ),
    ] = None,
    people_dir: Annotated[
        Path | None,
        typer.Option(
            "--people-dir",
            metavar="PATH",
            help="Shared people photos (boxes.jsonl): train/val photos join the mix, the test split never.",
        ),
    ] = None,
) -> None:
    """Compose screenshots, collages and photos-of-screens from catalog photos, with YOLO labels."""
    from detector.training.catalog import read_clothing_dir, read_item_ids, read_manifest
    from detector.training.classes import load_class_map
    from detector.training.dataset import DatasetConfig, make_dataset

    if (manifest is None) == (clothing_dir is None):
        raise typer.BadParameter("give exactly one of --manifest or --clothing-dir")
    try:
        photos = read_clothing_dir(clothing_dir) if clothing_dir else read_manifest(manifest, images_root)  # type: ignore[arg-type]
        cmap = load_class_map(class_map)
        excluded: set[str] = set()
        for path in exclude_items or []:
            excluded |= read_item_ids(path)
        if exclude_clothing_benchmark and clothing_dir is not None:
            from detector.training.exclusions import clothing_benchmark_targets

            excluded |= clothing_benchmark_targets(clothing_dir)
        if only_items is not None:
            keep = read_item_ids(only_items)
            photos = [p for p in photos if p.item_id in keep]
        config = DatasetConfig(
            train_images,
            val_images,
            seed=seed,
            max_side=max_side,
            val_items=val_items,
            screen_photo=screen_photo,
        )
        people: dict[str, PeoplePool] = {}
        if people_dir is not None:
            people = _people_pools(people_dir)
            config = replace(config, mix=_worn_mix())
        if layouts:
            config = replace(config, mix=_parse_mix(layouts))
        summary = make_dataset(
            photos, cmap, out, config, exclude_items=excluded, people=people, progress=True
        )
    except (ValueError, KeyError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        json.dumps(
            {
                "dataset": str(summary.root / "data.yaml"),
                "images": summary.images,
                "boxes": summary.boxes,
                "negatives": summary.negatives,
                "per_class": summary.per_class,
                "items": summary.items,
                "excluded_items": len(excluded),
            },
            indent=1,
        )
    )


def _people_pools(people_dir: Path) -> dict[str, PeoplePool]:
    from detector.training.dataset import PeoplePool
    from detector.training.people import in_split, read_people, unmapped_labels
    from detector.training.people_labels import PEOPLE_CLASS_MAP

    photos = read_people(people_dir)
    unmapped = unmapped_labels(photos, PEOPLE_CLASS_MAP)
    if unmapped:
        raise ValueError(f"people labels missing from the class map: {unmapped}")
    return {split: PeoplePool(in_split(photos, split), PEOPLE_CLASS_MAP) for split in ("train", "val")}


def _worn_mix() -> dict[str, float]:
    from detector.training.people_layouts import WORN_TRAIN_MIX

    return dict(WORN_TRAIN_MIX)


def _parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        try:
            mix[name.strip()] = float(share) if share else 1.0
        except ValueError as exc:
            raise ValueError(f"--layouts: bad share in {part!r}") from exc
    return mix


@detector_app.command("train")
def train_command(
    data: Annotated[Path, typer.Argument(metavar="DATA_YAML", help="data.yaml written by make-dataset.")],
    project: Annotated[
        Path, typer.Option("--project", metavar="PATH", help="Runs folder (git-ignored).")
    ] = Path("runs/detector"),
    name: Annotated[str, typer.Option("--name", metavar="TEXT")] = "garment-yolo",
    model: Annotated[
        str, typer.Option("--model", metavar="TEXT", help="Architecture yaml or a local .pt to start from.")
    ] = ("yolov8n.yaml"),
    init_from: Annotated[
        str | None,
        typer.Option(
            "--init-from",
            metavar="TEXT",
            help=(
                "'nudenet', a YOLOv8n .onnx (backbone/neck/box head copied) or a trained .pt "
                "(everything copied, class rows matched by name)."
            ),
        ),
    ] = "nudenet",
    epochs: Annotated[int, typer.Option("--epochs", min=1, metavar="N")] = 30,
    hours: Annotated[
        float | None, typer.Option("--hours", metavar="NUMBER", help="Wall-clock cap (ultralytics time=).")
    ] = None,
    imgsz: Annotated[int, typer.Option("--imgsz", min=32, metavar="PIXELS", help="Input size.")] = 320,
    export_imgsz: Annotated[
        int | None,
        typer.Option(
            "--export-imgsz",
            min=32,
            metavar="PIXELS",
            help="Input side of the exported ONNX, the size the service runs (default: --imgsz).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, metavar="N", help="Images per batch.")] = 16,
    workers: Annotated[int, typer.Option("--workers", min=0, metavar="N", help="Data loader processes.")] = 2,
    seed: Annotated[int, typer.Option("--seed", metavar="N")] = 0,
    lr0: Annotated[
        float,
        typer.Option(
            "--lr0",
            min=0.0,
            metavar="RATE",
            help="Start learning rate (lower to fine-tune a trained detector).",
        ),
    ] = 0.0015,
    warmup_epochs: Annotated[
        float, typer.Option("--warmup-epochs", min=0.0, metavar="EPOCHS", help="Linear warm-up length.")
    ] = 1.0,
    ship_to: Annotated[
        Path | None,
        typer.Option(
            "--ship-to",
            metavar="PATH",
            help="Copy best.onnx + fp16 best.pt into this folder (models/<name>).",
        ),
    ] = None,
) -> None:
    """Train YOLO nano on CPU with fixed seeds and no downloads, export ONNX, print metrics as JSON."""
    import yaml

    from detector.training.train import TrainConfig, ship, train

    try:
        names = yaml.safe_load(data.read_text(encoding="utf-8"))["names"]
        start_model = model
        if init_from:
            start_model = str(_init_checkpoint(init_from, model, names, project / name / "init.pt"))
        result = train(
            TrainConfig(
                data=data,
                project=project,
                name=name,
                model=start_model,
                epochs=epochs,
                hours=hours,
                imgsz=imgsz,
                export_imgsz=export_imgsz,
                batch=batch,
                workers=workers,
                seed=seed,
                lr0=lr0,
                warmup_epochs=warmup_epochs,
            )
        )
    except (ValueError, KeyError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    shipped: list[str] = []
    if ship_to is not None:
        shipped = [str(p) for p in ship(result, ship_to)]
    typer.echo(
        json.dumps(
            {
                "run": str(result.run_dir),
                "best": str(result.best_pt),
                "onnx": str(result.onnx),
                "seconds": round(result.seconds, 1),
                "metrics": result.metrics,
                "shipped": shipped,
            },
            indent=1,
        )
    )


def _init_checkpoint(init_from: str, cfg: str, names: dict[int, str], out: Path) -> Path:
    from detector.training.init_weights import write_init_checkpoint

    if init_from == "nudenet":
        from lookalike.packaged import nudenet_320n

        source = Path(nudenet_320n())
    else:
        source = Path(init_from)
    if not source.is_file():
        raise FileNotFoundError(f"--init-from: {source} not found")
    if source.suffix == ".pt":  # a trained detector, maybe with other classes: keep what matches
        from detector.training.init_weights import write_init_from_checkpoint

        return write_init_from_checkpoint(source, {int(k): str(v) for k, v in names.items()}, out)
    return write_init_checkpoint(source, cfg, len(names), {int(k): str(v) for k, v in names.items()}, out)


@detector_app.command("evaluate")
def evaluate_command(
    weights: Annotated[Path, typer.Argument(metavar="WEIGHTS", help="Detector weights (.onnx or .pt).")],
    dataset: Annotated[
        Path, typer.Argument(metavar="DATASET", help="A make-dataset folder (images/SPLIT, labels/SPLIT).")
    ],
    split: Annotated[str, typer.Option("--split", metavar="TEXT")] = "val",
    imgsz: Annotated[int, typer.Option("--imgsz", min=32, metavar="PIXELS", help="Input size.")] = 320,
    confidence: Annotated[
        float, typer.Option("--confidence", min=0.0, max=1.0, metavar="SCORE", help="Lowest box score kept.")
    ] = 0.25,
) -> None:
    """Class-agnostic box recall/precision at IoU 0.5 on a folder, overall and per layout, as JSON."""
    from detector.training.evaluate import score_folder
    from detector.yolo import YoloDetector

    if not weights.is_file():
        raise typer.BadParameter(f"{weights} not found")
    detector = YoloDetector(weights, imgsz=imgsz, confidence=confidence)
    scores = score_folder(detector, dataset, split)
    typer.echo(json.dumps({k: v.as_dict() for k, v in scores.items()}, indent=1))


@detector_app.command("evaluate-people")
def evaluate_people_command(
    weights: Annotated[Path, typer.Argument(metavar="WEIGHTS", help="Detector weights (.onnx or .pt).")],
    people_dir: Annotated[
        Path, typer.Option("--people-dir", metavar="PATH", help="Shared people photos (boxes.jsonl).")
    ],
    split: Annotated[
        str, typer.Option("--split", metavar="TEXT", help="train, val or test (0701-0800).")
    ] = "test",
    confidence: Annotated[
        float, typer.Option("--confidence", min=0.0, max=1.0, metavar="SCORE", help="Lowest box score kept.")
    ] = 0.15,
    flip_tta: Annotated[
        bool,
        typer.Option("--flip-tta", help="Also run each photo mirrored, fuse the boxes (detector.flip_tta)."),
    ] = False,
) -> None:
    """Per-class box recall/precision at IoU 0.5 on a split of the people photos, as JSON.

    Runs the detector as the service does (its engine and precision, rectangular inputs,
    class-agnostic NMS, the search's region rules), with the service's settings
    (``LOOKALIKE_DETECTOR__ENGINE=onnxruntime LOOKALIKE_DETECTOR__PRECISION=fp32`` pins fp32).
    """
    from detector import load_detector, select_regions
    from detector.training.people import in_split, read_people
    from detector.training.people_eval import score_people
    from detector.training.people_labels import PEOPLE_CLASS_MAP
    from lookalike.settings import load_settings
    from lookalike.types import DecodedImage, Region

    if not weights.is_file():
        raise typer.BadParameter(f"{weights} not found")
    try:
        photos = in_split(read_people(people_dir), split)
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    from lookalike.packaged import onnx_input_side

    side = onnx_input_side(weights) if weights.suffix == ".onnx" else None
    # the service's detector settings (engine, precision, region rules: LOOKALIKE_DETECTOR__*),
    # with these weights, confidence and flip TTA
    chosen = {"spec": f"yolo:{weights}", "confidence": confidence, "imgsz": side or 320, "flip_tta": flip_tta}
    settings = load_settings().detector.model_copy(update=chosen)
    detector = load_detector(settings)

    def searched(found: list[Region], image: DecodedImage) -> list[Region]:
        # the search's region rules (minimum size, shoe pairs), without its whole-image fallback
        return [r for r in select_regions(found, image, settings) if r.category is not None]

    scores = score_people(detector, photos, PEOPLE_CLASS_MAP, keep=searched)
    typer.echo(json.dumps({k: v.as_dict() for k, v in scores.items()}, indent=1))
