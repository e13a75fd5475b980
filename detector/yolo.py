"""Ultralytics YOLO with any weights (.pt or .onnx, local path or hub name)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lookalike.types import Box, DecodedImage, Region


class YoloDetector:
    """Runs ``ultralytics.YOLO`` in batches and maps its class names to catalog categories.

    A hub name such as ``yolov8n.pt`` is passed to ultralytics unchanged, so it downloads
    wherever a hub is reachable; offline, give a local file.
    """

    def __init__(
        self,
        weights: str | Path,
        *,
        spec: str | None = None,
        confidence: float = 0.25,
        iou: float = 0.5,
        agnostic_nms: bool = True,
        imgsz: int = 640,
        device: str | None = None,
        category_map: Mapping[str, str] | None = None,
        classes: Sequence[str] | None = None,
    ) -> None:
        from ultralytics import YOLO

        self.spec = spec or f"yolo:{weights}"
        self._model: Any = YOLO(str(weights), task="detect")
        self._confidence = confidence
        self._agnostic_nms = agnostic_nms
        self._iou = iou
        self._imgsz = imgsz
        self._device = device
        self._category_map = dict(category_map or {})
        self._keep = set(classes) if classes else None

    @property
    def class_names(self) -> dict[int, str]:
        names: dict[int, str] = self._model.names
        return names

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        if not images:
            return []
        results = self._model.predict(
            [img.pixels for img in images],
            conf=self._confidence,
            iou=self._iou,
            imgsz=self._imgsz,
            agnostic_nms=self._agnostic_nms,
            device=self._device,
            verbose=False,
        )
        names = self.class_names
        out: list[list[Region]] = []
        for result in results:
            regions: list[Region] = []
            boxes = result.boxes
            if boxes is not None and len(boxes):
                xyxy = boxes.xyxy.cpu().numpy()
                conf = boxes.conf.cpu().numpy()
                cls = boxes.cls.cpu().numpy().astype(int)
                for (x1, y1, x2, y2), score, c in zip(xyxy, conf, cls, strict=True):
                    name = names.get(int(c), str(int(c)))
                    if self._keep is not None and name not in self._keep:
                        continue
                    category = self._category_map.get(name, name)
                    regions.append(
                        Region(Box(float(x1), float(y1), float(x2), float(y2)), category, float(score))
                    )
            out.append(regions)
        return out
