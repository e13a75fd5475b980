"""Detector stage: image -> product regions. See ``base.py`` for the whole interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.base import Detector
from detector.bf16_checked import bf16_checked
from detector.categories import default_category_map
from detector.regions import select_regions
from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeRequest
from lookalike.settings import DetectorSettings, default_export_dir
from lookalike.specs import ModelSpec
from lookalike.triton_client import is_triton_spec

__all__ = ["Detector", "load_detector", "runtime_request", "select_regions"]

GARMENT_YOLO_FLIP_TTA = False
"""garment-yolo's flip TTA when ``detector.flip_tta`` is None (docs/DETECTOR.md has the figures)."""

GARMENT_YOLO_CONFIDENCE = {False: 0.15, True: 0.13}
"""garment-yolo's tuned confidence without and with flip TTA (chosen on validation photos)."""


def garment_yolo_defaults(settings: DetectorSettings) -> tuple[bool, float]:
    """(flip TTA, confidence) for garment-yolo: the settings' values, else the tuned ones.

    ultralytics' predictor (``runtime = "ultralytics"``) runs no flip TTA unless asked to
    (and then refuses)."""
    tuned = GARMENT_YOLO_FLIP_TTA and settings.runtime != "ultralytics"
    flip = tuned if settings.flip_tta is None else settings.flip_tta
    confidence = GARMENT_YOLO_CONFIDENCE[flip] if settings.confidence is None else settings.confidence
    return flip, confidence


def load_detector(
    settings: DetectorSettings,
    device: str | None = None,
    *,
    execution: ExecutionPolicy | None = None,
    export_dir: Path | None = None,
) -> Detector:
    """Build the detector a spec names: garment-yolo, coco, blocks, none, nudenet, yolo:<weights>, or
    triton+grpc://host:8001/<model> (a YOLO detector served by Triton, ``lookalike export triton``).

    ``execution`` is the policy its ONNX sessions share with the other models of the process;
    ``export_dir`` is where its static rectangular exports are cached (``Settings.export_dir``).
    """
    if is_triton_spec(settings.spec):
        from detector.triton import TritonYoloDetector

        return TritonYoloDetector(
            settings.spec,
            flip_tta=settings.flip_tta,
            confidence=settings.confidence,
            iou=settings.iou,
            agnostic_nms=settings.agnostic_nms,
            rect_inputs=settings.rect_inputs,
            rect_margin_strides=settings.rect_margin_strides,
            category_map=settings.category_map,
        )
    spec = ModelSpec.parse(settings.spec)
    if settings.flip_tta and spec.kind not in ("yolo", "nudenet", "garment-yolo"):
        raise ValueError(f"detector.flip_tta needs a YOLO detector, not {settings.spec!r}")
    if spec.kind == "coco":
        from detector.coco import CocoSsdDetector

        coco_confidence = 0.4 if settings.confidence is None else settings.confidence
        return CocoSsdDetector(confidence=coco_confidence, category_map=settings.category_map)
    if spec.kind == "none":
        from detector.whole_image import WholeImageDetector

        return WholeImageDetector()
    if spec.kind == "blocks":
        from detector.blocks import PhotoBlockDetector

        return PhotoBlockDetector(max_regions=settings.max_regions)
    if spec.kind in ("yolo", "nudenet", "garment-yolo"):
        from detector.yolo import YoloDetector

        confidence = settings.confidence
        flip = bool(settings.flip_tta)
        weights: str
        if spec.kind == "garment-yolo":
            from lookalike.packaged import garment_yolo_onnx, garment_yolo_side

            weights = str(garment_yolo_onnx())
            imgsz = garment_yolo_side()  # the ONNX input is fixed (MODEL_CARD.md)
            flip, confidence = garment_yolo_defaults(settings)
        elif spec.kind == "nudenet":
            from lookalike.packaged import nudenet_320n

            weights = str(nudenet_320n())
            imgsz = 320
        else:
            if not spec.name:
                raise ValueError("yolo spec needs weights: yolo:/path/best.onnx or yolo:yolov8n.pt")
            weights = spec.name + (f"@{spec.weights}" if spec.weights else "")
            imgsz = settings.imgsz
        common: dict[str, Any] = dict(
            spec=settings.spec,
            confidence=0.25 if confidence is None else confidence,
            agnostic_nms=settings.agnostic_nms,
            iou=settings.iou,
            imgsz=imgsz,
            category_map=(
                settings.category_map
                if settings.category_map is not None
                else default_category_map(spec.kind)
            ),
        )
        if _runs_in_onnxruntime(settings, weights):
            from detector.onnx_yolo import OnnxYoloDetector

            return OnnxYoloDetector(
                weights,
                threads=settings.threads,
                rect_inputs=settings.rect_inputs,
                rect_margin_strides=settings.rect_margin_strides,
                export_dir=export_dir,
                execution=execution,
                runtime=runtime_request(settings, export_dir, weights),
                flip=flip,
                **common,
            )
        if flip:
            raise ValueError(
                "detector.flip_tta runs .onnx weights in ONNX Runtime, not ultralytics' predictor"
            )
        return YoloDetector(weights, device=device, **common)
    raise ValueError(f"unknown detector spec {settings.spec!r}")


def runtime_request(
    settings: DetectorSettings, export_dir: Path | None, weights: str | None = None
) -> RuntimeRequest:
    """The engine and precision settings ask for. ``auto`` never picks int8 for the detector (with
    the int8 square copy grocery photos gave other regions and item recall@10 fell 0.012), and
    picks bf16 only for ``weights`` whose bf16 boxes were measured to keep recall
    (``detector.bf16_checked``: garment-yolo v5 does, v4 did not). Pinned, both run."""
    return RuntimeRequest(
        settings.engine,
        settings.precision,
        export_dir or default_export_dir(),
        auto_int8=False,
        auto_bf16=weights is not None and bf16_checked(weights),
    )


def _runs_in_onnxruntime(settings: DetectorSettings, weights: str) -> bool:
    if settings.runtime == "onnx":
        if not weights.endswith(".onnx"):
            raise ValueError(f"detector runtime 'onnx' needs .onnx weights, not {weights!r}")
        return True
    return settings.runtime == "auto" and weights.endswith(".onnx")
