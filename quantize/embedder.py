"""int8 embedder: calibrated on catalog photos the benchmarks never query and on grocery training
photos; checked by grocery recall@1 of training photos against the catalog's iconic images."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from embedder import load_embedder
from embedder.preprocess import to_array
from evaluation.datasets.grocery import read_classes
from lookalike.settings import EmbedderSettings
from lookalike.splits import clothing_benchmark_targets, read_clothing_labels
from quantize.run import QuantizeResult, quantize_onnx


def clothing_calibration(clothing_dir: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` clothing photos, none of them a clothing-screenshots benchmark target."""
    targets = clothing_benchmark_targets(clothing_dir)
    ids = sorted(set(read_clothing_labels(clothing_dir)) - targets)
    return [clothing_dir / "images" / f"{i}.jpg" for i in random.Random(seed).sample(ids, n)]


def grocery_train(grocery_dir: Path, n: int, seed: int = 0) -> list[tuple[Path, str]]:
    """``n`` photos of the grocery ``train/`` split (never val or test) with their fine class."""
    _, names = read_classes(grocery_dir)
    rows = []
    for line in (grocery_dir / "train.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rel, fine, _coarse = (part.strip() for part in line.split(","))
            rows.append((grocery_dir / rel.lstrip("/"), names[int(fine)]))
    return random.Random(seed).sample(rows, min(n, len(rows)))


def grocery_catalog(grocery_dir: Path) -> list[tuple[Path, str]]:
    rows, _ = read_classes(grocery_dir)
    return [(Path(row["image"]), row["item_id"]) for row in rows]


def _vectors(compiled: Any, arrays: Sequence[np.ndarray]) -> np.ndarray:
    out = np.concatenate([np.asarray(compiled(a)[0]).reshape(len(a), -1) for a in arrays])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def recall_at_1(catalog: Sequence[tuple[np.ndarray, str]]) -> Any:
    """A metric over (query array, class) items: share whose nearest catalog image is their class,
    with the hit of each item (NNCF ranks layers by them). The catalog's vectors are embedded once
    per model: NNCF calls the metric item by item too."""
    refs_of: dict[int, tuple[Any, np.ndarray]] = {}

    def metric(compiled: Any, items: Sequence[tuple[np.ndarray, str]]) -> tuple[float, list[float]]:
        if id(compiled) not in refs_of:
            if len(refs_of) > 4:
                refs_of.clear()
            refs_of[id(compiled)] = (compiled, _vectors(compiled, [a for a, _ in catalog]))
        refs = refs_of[id(compiled)][1]
        items = list(items)
        queries = _vectors(compiled, [a for a, _ in items])
        nearest = (queries @ refs.T).argmax(1)
        hits = [float(catalog[j][1] == label) for j, (_, label) in zip(nearest, items, strict=True)]
        return float(np.mean(hits)), hits

    return metric


def quantize_embedder(
    settings: EmbedderSettings,
    export_dir: Path,
    *,
    clothing_dir: Path,
    grocery_dir: Path,
    calibration_images: int = 300,
    validation_images: int = 400,
    max_drop: float = 0.005,
) -> QuantizeResult:
    """Quantise the configured embedder's ONNX export (see the module doc)."""
    fp32 = settings.model_copy(update={"engine": "onnxruntime", "precision": "fp32", "device": "cpu"})
    embedder: Any = load_embedder(fp32, export_dir)
    size = embedder.image_size

    def array(path: Path) -> np.ndarray:
        with Image.open(path) as img:
            return to_array([img.convert("RGB")], size)

    half = calibration_images // 2
    calibration = [array(p) for p in clothing_calibration(clothing_dir, calibration_images - half)]
    calibration += [array(p) for p, _ in grocery_train(grocery_dir, half, seed=1)]
    catalog = [(array(p), label) for p, label in grocery_catalog(grocery_dir)]
    validation = [(array(p), label) for p, label in grocery_train(grocery_dir, validation_images, seed=2)]
    return quantize_onnx(
        embedder.runtime_choice.model,
        export_dir,
        calibration,
        validation,
        recall_at_1(catalog),
        metric_name="grocery train-split recall@1",
        describe_calibration=(
            f"{calibration_images - half} clothing photos (no benchmark target), {half} grocery train/ photos"
        ),
        describe_validation=f"{len(validation)} grocery train/ photos against the 81 iconic images",
        max_drop=max_drop,
    )
