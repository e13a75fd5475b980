"""The YOLO detector served by Triton: letterbox and NMS here, the network on the server.

The repository's detector model takes any stride-multiple rectangle (``triton_repo``), so each
screenshot is letterboxed to its minimal rectangle with the same margin as the in-process
detector and its boxes agree with it (within a pixel: ``tests/test_triton_backends.py``).
Images of the same input shape go to the server as one batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from detector.onnx_yolo import Letterbox, regions_from_output
from lookalike.triton_client import TritonEndpoint, TritonModel
from lookalike.types import DecodedImage, Region


class TritonYoloDetector:
    def __init__(
        self,
        spec: str,
        *,
        confidence: float | None,
        iou: float,
        agnostic_nms: bool,
        rect_inputs: bool,
        rect_margin_strides: int,
        category_map: Mapping[str, str] | None,
        model: TritonModel | None = None,
    ) -> None:
        self.model = model or TritonModel(TritonEndpoint.parse(spec))
        p = self.model.parameters
        self.source_spec = p.get("lookalike_spec", "")
        self.spec = f"{spec}#v{self.model.version}"
        self.class_names = {int(k): str(v) for k, v in json.loads(p.get("names", "{}")).items()}
        imgsz, stride = int(p.get("imgsz", 320)), int(p.get("stride", 32))
        rect = rect_inputs and p.get("rect_inputs") == "1"
        self._letterbox = Letterbox(
            imgsz, minimal=rect, stride=stride, margin_strides=rect_margin_strides if rect else 0
        )
        self._input = p.get("input_name", "images")
        self._output = p.get("output_name", "output0")
        default_confidence = 0.15 if self.source_spec == "garment-yolo" else 0.25
        self._confidence = default_confidence if confidence is None else confidence
        self._iou, self._agnostic = iou, agnostic_nms
        if category_map is None:
            from detector.categories import default_category_map

            category_map = default_category_map(self.source_spec.partition(":")[0])
        self._category_map = dict(category_map)

    def ready(self) -> str:
        return self.model.ready()

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        prepared = [self._letterbox(np.asarray(img.pixels.convert("RGB"))) for img in images]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, (padded, _) in enumerate(prepared):
            by_shape.setdefault(padded.shape, []).append(i)
        raw: list[np.ndarray] = [np.zeros(0, np.float32)] * len(images)
        step = max(self.model.max_batch_size, 1)
        for members in by_shape.values():
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                batch = np.stack([prepared[i][0].transpose(2, 0, 1) for i in chunk]).astype(np.float32)
                batch /= np.float32(255.0)
                out = self.model.infer({self._input: batch}, [self._output])[self._output]
                for j, i in enumerate(chunk):
                    raw[i] = out[j]
        return [
            regions_from_output(
                raw[i],
                image,
                prepared[i][1],
                confidence=self._confidence,
                iou=self._iou,
                agnostic=self._agnostic,
                class_names=self.class_names,
                category_map=self._category_map,
            )
            for i, image in enumerate(images)
        ]
