"""Train a YOLO nano detector from scratch on a composed dataset and export it to ONNX, offline."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.training.offline import offline_ultralytics
from lookalike.execution import usable_cores


@dataclass(frozen=True)
class TrainConfig:
    data: Path  # data.yaml from make-dataset
    project: Path  # runs folder; the run lands in project/name
    name: str = "garment-yolo"
    model: str = "yolov8n.yaml"  # architecture only; a local .pt starts from its weights instead
    epochs: int = 30
    hours: float | None = None  # wall-clock cap, ultralytics' ``time=``; overrides epochs when hit
    imgsz: int = 384
    export_imgsz: int | None = None  # the ONNX input side; None: imgsz (v6 trained at 384, serves at 320)
    batch: int = 16
    workers: int = 2
    seed: int = 0
    patience: int = 100
    device: str = "cpu"
    mosaic: float = 0.5
    close_mosaic: int = 2
    lr0: float = 0.0015
    warmup_epochs: float = 1.0


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best_pt: Path
    onnx: Path
    seconds: float
    metrics: dict[str, float]


def train(config: TrainConfig) -> TrainResult:
    """Runs ``YOLO(model).train(...)`` with fixed seeds, AMP and plots off, then exports ``best.onnx``."""
    yolo_cls = offline_ultralytics()
    if config.model.endswith(".pt") and not Path(config.model).is_file():
        raise FileNotFoundError(f"{config.model}: pretrained weights must be a local file (no downloads)")
    model = yolo_cls(config.model, task="detect")
    model.add_callback("on_pretrain_routine_start", _torch_threads(usable_cores()))
    run_dir = config.project.resolve() / config.name
    args: dict[str, Any] = {
        "data": str(config.data.resolve()),
        "epochs": config.epochs,
        "imgsz": config.imgsz,
        "batch": config.batch,
        "workers": config.workers,
        "device": config.device,
        "seed": config.seed,
        "deterministic": True,
        "amp": False,
        "plots": False,
        "pretrained": config.model.endswith(".pt"),  # False would drop the start weights
        "patience": config.patience,
        "project": str(config.project.resolve()),
        "name": config.name,
        "exist_ok": True,
        "verbose": False,
        "mosaic": config.mosaic,
        "close_mosaic": config.close_mosaic,
        "fliplr": 0.5,
        "optimizer": "AdamW",
        "lr0": config.lr0,
        "warmup_epochs": config.warmup_epochs,
        "warmup_bias_lr": config.lr0,  # the default 0.1 would wreck biases of initialised weights
        "nbs": config.batch,  # one optimizer step per batch: few steps fit a CPU budget
        "degrees": 0.0,
        "val": True,
    }
    if config.hours is not None:
        args["time"] = config.hours
    start = time.monotonic()
    model.train(**args)
    seconds = time.monotonic() - start
    best = run_dir / "weights" / "best.pt"
    if not best.is_file():
        best = run_dir / "weights" / "last.pt"
    onnx = export_onnx(best, config.export_imgsz or config.imgsz)
    metrics = validate(best, config.data, config.imgsz, config.device)
    return TrainResult(run_dir, best, onnx, seconds, metrics)


def _torch_threads(threads: int) -> Callable[[Any], None]:
    """A trainer callback that gives torch ``threads`` threads.

    ultralytics' device selection sets torch to ``cpu_count - 1`` threads (its data-loader
    default), so on 2 cores every batch ran on one; it runs before the first callback.
    """

    def set_threads(_trainer: Any) -> None:
        import torch

        torch.set_num_threads(threads)

    return set_threads


def export_onnx(weights: Path, imgsz: int) -> Path:
    """Static-shape ONNX next to the weights (no simplifier: it would need onnxslim from the network)."""
    yolo_cls = offline_ultralytics()
    out = Path(
        yolo_cls(str(weights), task="detect").export(
            format="onnx", imgsz=imgsz, simplify=False, dynamic=False
        )
    )
    return out


def validate(weights: Path, data: Path, imgsz: int, device: str = "cpu") -> dict[str, float]:
    """mAP50, mAP50-95, precision and recall on the dataset's val split."""
    yolo_cls = offline_ultralytics()
    m = yolo_cls(str(weights), task="detect").val(
        data=str(data.resolve()), imgsz=imgsz, batch=8, workers=0, device=device, plots=False, verbose=False
    )
    box = m.box
    return {
        "mAP50": float(box.map50),
        "mAP50-95": float(box.map),
        "precision": float(box.mp),
        "recall": float(box.mr),
    }


def ship(result: TrainResult, dest: Path) -> tuple[Path, Path]:
    """Copies ``best.onnx`` and a fp16 ``best.pt`` into ``dest`` (the folder under models/)."""
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    onnx_out = dest / "best.onnx"
    shutil.copyfile(result.onnx, onnx_out)
    ckpt = torch.load(result.best_pt, map_location="cpu", weights_only=False)
    for key in ("optimizer", "ema", "updates", "train_results"):
        ckpt.pop(key, None)
    ckpt["model"] = ckpt["model"].half()
    pt_out = dest / "best.pt"
    torch.save(ckpt, pt_out)
    return onnx_out, pt_out
