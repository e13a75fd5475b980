"""The YOLO detector served by Triton: letterbox and NMS here, the network on the server.

The repository's detector model takes any stride-multiple rectangle (``triton_repo``), so each
screenshot is letterboxed to its minimal rectangle with the same margin as the in-process
detector and its boxes agree with it (within a pixel: ``tests/test_triton_backends.py``).
Images of the same input shape go to the server as one batch (with flip TTA, their mirrors too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np

from detector import flip_tta as flips
from detector.onnx_yolo import Letterbox, regions_from_output
from lookalike.pixel_arrays import rgbx_or_rgb
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
        flip_tta: bool | None = None,
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
        if self.source_spec == "garment-yolo":
            from detector import GARMENT_YOLO_CONFIDENCE, GARMENT_YOLO_FLIP_TTA

            self.flip = GARMENT_YOLO_FLIP_TTA if flip_tta is None else flip_tta
            default_confidence = GARMENT_YOLO_CONFIDENCE[self.flip]
        else:
            self.flip, default_confidence = bool(flip_tta), 0.25
        self._confidence = default_confidence if confidence is None else confidence
        self._iou, self._agnostic = iou, agnostic_nms
        if category_map is None:
            from detector.categories import default_category_map

            category_map = default_category_map(self.source_spec.partition(":")[0])
        self._category_map = dict(category_map)

    def ready(self) -> str:
        return self.model.ready()

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        prepared = [self._letterbox(rgbx_or_rgb(img.pixels)) for img in images]
        inputs = [padded for padded, _ in prepared]
        if self.flip:  # input n + i is image i mirrored
            inputs += [flips.mirror(padded) for padded in inputs]
        n = len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, padded in enumerate(inputs):
            by_shape.setdefault(padded.shape, []).append(i)
        raw: list[np.ndarray] = [np.zeros(0, np.float32)] * len(inputs)
        step = max(self.model.max_batch_size, 1)
        for members in by_shape.values():
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                batch = np.stack([inputs[i].transpose(2, 0, 1) for i in chunk]).astype(np.float32)
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
                mirrored=raw[n + i] if self.flip else None,
                input_width=inputs[i].shape[1],
            )
            for i, image in enumerate(images)
        ]
