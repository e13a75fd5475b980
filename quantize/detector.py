"""int8 detector: calibrated on the train images of a detector dataset (``lookalike detector
make-dataset``: composed from catalog items the benchmarks never query and from the people
photos' train split) and checked by box F1 on its val images, at every input shape the
service runs (the square and the phone-screenshot rectangles, ``detector.rect_exports``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from detector import load_detector
from detector.onnx_yolo import PAD_VALUE, decode_predictions
from detector.training.evaluate import greedy_matches, read_truth
from lookalike.settings import DetectorSettings
from lookalike.types import Box
from quantize.run import QuantizeResult, quantize_onnx

Shape = tuple[int, int]
IGNORED_HEAD = (r"/model\.\d+/dfl/.*", r"/model\.\d+/(Add|Sub|Mul|Div)(_\d+)?$")
"""The detect head's box decoding (DFL and the anchor arithmetic): coordinates, not features."""


def fit(rgb: np.ndarray, shape: Shape) -> tuple[np.ndarray, float, int, int]:
    """Scale ``rgb`` into (height, width) keeping its aspect, centred on the letterbox grey;
    returns the (1, 3, h, w) float input, the scale and the left/top padding."""
    h, w = rgb.shape[:2]
    r = min(shape[0] / h, shape[1] / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    canvas = np.full((shape[0], shape[1], 3), PAD_VALUE, np.uint8)
    left, top = (shape[1] - nw) // 2, (shape[0] - nh) // 2
    canvas[top : top + nh, left : left + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)
    return x, r, left, top


def load_split(dataset: Path, split: str, shape: Shape, limit: int) -> list[tuple[np.ndarray, list[Box]]]:
    """(input, truth boxes in input pixels) for the first ``limit`` images of a split."""
    items = []
    for path in sorted((dataset / "images" / split).glob("*.jpg"))[:limit]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        x, r, left, top = fit(rgb, shape)
        label = dataset / "labels" / split / f"{path.stem}.txt"
        truth = read_truth(label, rgb.shape[1], rgb.shape[0]) if label.is_file() else []
        moved = [Box(b.x1 * r + left, b.y1 * r + top, b.x2 * r + left, b.y2 * r + top) for b in truth]
        items.append((x, moved))
    if not items:
        raise FileNotFoundError(
            f"no images under {dataset / 'images' / split}: make one with lookalike detector make-dataset"
        )
    return items


def box_f1(confidence: float, iou: float) -> Any:
    """A metric over (input, truth) items: F1 of one-to-one box matches at IoU 0.5."""

    def f1(matched: int, truth: int, detected: int) -> float:
        return 2 * matched / (truth + detected) if truth + detected else 1.0

    def metric(compiled: Any, items: Sequence[tuple[np.ndarray, list[Box]]]) -> tuple[float, list[float]]:
        truth = detected = matched = 0
        per_item = []
        for x, boxes in items:
            raw = np.asarray(compiled(x)[0])[0]
            found, _, _ = decode_predictions(raw, confidence=confidence, iou=iou, agnostic=True)
            found_boxes = [Box(*map(float, b)) for b in found]
            hits = greedy_matches(boxes, found_boxes)
            truth, detected, matched = truth + len(boxes), detected + len(found_boxes), matched + hits
            per_item.append(f1(hits, len(boxes), len(found_boxes)))
        return f1(matched, truth, detected), per_item

    return metric


def service_shapes(detector: Any) -> dict[Shape, Path]:
    """Input shape -> the ONNX file the service runs at it: the square and the phone rectangles."""
    shapes = {(detector.imgsz, detector.imgsz): detector.runtime_choice.model}
    rects = detector._rects
    if rects is not None:
        for ratio in (1170 / 2532, 1080 / 1920):
            shape = detector._letterbox.shape(detector.imgsz, round(detector.imgsz * ratio))
            session = rects.get(shape)
            if session is not rects.square:  # no export of this shape: it runs the square graph
                shapes[shape] = session.choice.model
    return shapes


def quantize_detector(
    settings: DetectorSettings,
    export_dir: Path,
    dataset: Path,
    *,
    calibration_images: int = 200,
    validation_images: int = 120,
    max_drop: float = 0.005,
) -> list[QuantizeResult]:
    """Quantise the configured YOLO detector at each service shape (see the module doc)."""
    import nncf

    fp32 = settings.model_copy(update={"engine": "onnxruntime", "precision": "fp32"})
    detector: Any = load_detector(fp32, export_dir=export_dir)
    if not hasattr(detector, "_rects"):
        raise ValueError(f"detector {settings.spec!r} is not an ONNX YOLO model: nothing to quantise")
    metric = box_f1(detector._confidence, detector._iou)
    ignored = nncf.IgnoredScope(patterns=list(IGNORED_HEAD), types=["Sigmoid"], validate=False)
    results = []
    for shape, onnx_path in service_shapes(detector).items():
        calibration = [x for x, _ in load_split(dataset, "train", shape, calibration_images)]
        validation = load_split(dataset, "val", shape, validation_images)
        results.append(
            quantize_onnx(
                onnx_path,
                export_dir,
                calibration,
                validation,
                metric,
                metric_name=f"box F1 at IoU 0.5, {shape[0]}x{shape[1]} input",
                describe_calibration=f"{len(calibration)} train images of {dataset}",
                describe_validation=f"{len(validation)} val images of {dataset}",
                max_drop=max_drop,
                ignored=ignored,
            )
        )
    return results
