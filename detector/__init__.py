"""Detector stage: image -> product regions. See ``base.py`` for the whole interface."""

from __future__ import annotations

from detector.base import Detector
from lookalike.settings import DetectorSettings
from lookalike.specs import ModelSpec

__all__ = ["Detector", "load_detector"]


def load_detector(settings: DetectorSettings, device: str | None = None) -> Detector:
    """Build the detector a spec names: none, blocks, nudenet, or yolo:<weights>."""
    spec = ModelSpec.parse(settings.spec)
    if spec.kind == "none":
        from detector.whole_image import WholeImageDetector

        return WholeImageDetector()
    if spec.kind == "blocks":
        from detector.blocks import PhotoBlockDetector

        return PhotoBlockDetector(max_regions=settings.max_regions)
    if spec.kind in ("yolo", "nudenet"):
        from detector.yolo import YoloDetector

        if spec.kind == "nudenet":
            from lookalike.packaged import nudenet_320n

            weights: str = str(nudenet_320n())
            imgsz = 320
        else:
            if not spec.name:
                raise ValueError("yolo spec needs weights: yolo:/path/best.onnx or yolo:yolov8n.pt")
            weights = spec.name + (f"@{spec.weights}" if spec.weights else "")
            imgsz = settings.imgsz
        return YoloDetector(
            weights,
            spec=settings.spec,
            confidence=settings.confidence,
            iou=settings.iou,
            imgsz=imgsz,
            device=device,
            category_map=settings.category_map,
        )
    raise ValueError(f"unknown detector spec {settings.spec!r}")
