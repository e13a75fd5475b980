"""A YOLOv8-style ONNX export run directly in ONNX Runtime, without ultralytics' predictor.

ultralytics' ``predict`` wraps the same ONNX session in Python pre- and post-processing
that holds the GIL for several milliseconds per image. Here the letterbox is one OpenCV
resize and pad, the output decode is vectorised numpy, and NMS is ``torchvision.ops.nms``
(the kernel ultralytics itself calls), so the boxes match ultralytics' to rounding
(``tests/test_onnx_yolo.py`` holds them to that).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector import flip_tta
from detector.nms import class_nms
from detector.rect_exports import RectSessions
from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeRequest
from lookalike.onnx_sessions import open_session
from lookalike.pixel_arrays import rgb_of, rgbx_or_rgb
from lookalike.settings import default_export_dir
from lookalike.types import Box, DecodedImage, Region

PAD_VALUE = 114  # ultralytics' LetterBox grey
MAX_NMS = 30000


class Letterbox:
    """ultralytics' LetterBox(center=True): keep the aspect ratio, pad to a square.

    With ``minimal`` (ultralytics' ``auto``, for models with dynamic input sizes) the padding
    only reaches the next multiple of ``stride``: fewer pixels to run. ``margin_strides`` adds
    that many strides of grey on top (never past the square): a garment that touches the
    image edge keeps some of the grey context the detector was trained with.
    """

    def __init__(
        self, size: int, *, minimal: bool = False, stride: int = 32, margin_strides: int = 0
    ) -> None:
        self.size, self.minimal, self.stride, self.margin = size, minimal, stride, margin_strides

    def shape(self, content_h: int, content_w: int) -> tuple[int, int]:
        """The (height, width) this letterbox gives an image already scaled to ``content``."""
        padded = self(np.zeros((content_h, content_w, 3), np.uint8))[0]
        return int(padded.shape[0]), int(padded.shape[1])

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float, int, int]]:
        """``rgb``: (h, w, 3), or (h, w, 4) RGBX (``pixel_arrays.rgbx_or_rgb``: resized with its
        fourth channel, which is dropped after, so the big image is never repacked)."""
        h, w = rgb.shape[:2]
        r = min(self.size / h, self.size / w)
        new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
        if (w, h) != (new_w, new_h):
            rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        rgb = rgb_of(rgb)
        dw, dh = float(self.size - new_w), float(self.size - new_h)
        if self.minimal:
            extra = self.stride * self.margin
            dw, dh = min(dw % self.stride + extra, dw), min(dh % self.stride + extra, dh)
        dw, dh = dw / 2, dh / 2
        top, bottom = round(dh - 0.1), round(dh + 0.1)
        left, right = round(dw - 0.1), round(dw + 0.1)
        padded = cv2.copyMakeBorder(
            rgb, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
        )
        return padded, (new_w / w, new_h / h, left, top)


def decode_predictions(
    raw: np.ndarray, *, confidence: float, iou: float, agnostic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(4 + classes, anchors) model output -> kept xyxy boxes, scores, class ids (input pixels)."""
    scores_all = raw[4:]
    cls = scores_all.argmax(0)
    conf = scores_all[cls, np.arange(raw.shape[1])]
    keep = conf > confidence
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    cx, cy, bw, bh = raw[:4, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    conf, cls = conf[keep].astype(np.float32), cls[keep]
    if len(conf) > MAX_NMS:
        top = np.argsort(-conf)[:MAX_NMS]
        boxes, conf, cls = boxes[top], conf[top], cls[top]
    kept = class_nms(boxes, conf, cls, iou, agnostic)
    return boxes[kept], conf[kept], cls[kept]


def decode_passes(
    raw: np.ndarray,
    mirrored: np.ndarray | None,
    input_width: int,
    *,
    confidence: float,
    iou: float,
    agnostic: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decode_predictions`` of one pass, or of a pass and its mirror's fused (``flip_tta.py``).

    ``input_width`` is the width of the letterboxed input both passes ran at."""
    if mirrored is None:
        return decode_predictions(raw, confidence=confidence, iou=iou, agnostic=agnostic)
    floor = confidence * flip_tta.CANDIDATE_SHARE
    straight = decode_predictions(raw, confidence=floor, iou=iou, agnostic=agnostic)
    boxes, scores, classes = decode_predictions(mirrored, confidence=floor, iou=iou, agnostic=agnostic)
    flipped = (flip_tta.unmirror(boxes, input_width), scores, classes)
    return flip_tta.fuse(straight, flipped, confidence=confidence, iou=iou, agnostic=agnostic)


class OnnxYoloDetector:
    """YOLOv8/11 detect-head ONNX (output ``(1, 4 + classes, anchors)``) in ONNX Runtime or, as
    ``runtime`` decides, OpenVINO (``lookalike.model_runtime``)."""

    def __init__(
        self,
        weights: str | Path,
        *,
        spec: str | None = None,
        confidence: float = 0.25,
        iou: float = 0.5,
        agnostic_nms: bool = True,
        imgsz: int | None = None,
        threads: int = 0,
        category_map: Mapping[str, str] | None = None,
        classes: Sequence[str] | None = None,
        rect_inputs: bool = True,
        rect_margin_strides: int = 1,
        export_dir: Path | None = None,
        execution: ExecutionPolicy | None = None,
        runtime: RuntimeRequest | None = None,
        flip: bool = False,
    ) -> None:
        self.spec = spec or f"yolo:{weights}"
        self.flip = flip
        self.execution = execution or ExecutionPolicy()
        self._session: Any = open_session(weights, threads, self.execution, runtime)
        self.runtime_choice = self._session.choice
        meta = self._session.get_modelmeta().custom_metadata_map
        model_input = self._session.get_inputs()[0]
        self._input = model_input.name
        fixed = model_input.shape[2] if isinstance(model_input.shape[2], int) else None
        self.imgsz = fixed or imgsz or 640
        self._fixed_batch = isinstance(model_input.shape[0], int) or fixed is None
        names = ast.literal_eval(meta["names"]) if "names" in meta else {}
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in names.items()}
        stride = int(meta.get("stride", 32))
        checkpoint = Path(weights).with_suffix(".pt")
        # A static square graph with its checkpoint beside it: run each image at its own minimal
        # rectangle through a static export of that shape (see rect_exports.py).
        self._rects = (
            RectSessions(
                checkpoint,
                self._session,
                self.imgsz,
                export_dir or default_export_dir(),
                threads,
                self.execution,
                runtime,
            )
            if rect_inputs and fixed is not None and checkpoint.is_file()
            else None
        )
        margin = rect_margin_strides if self._rects is not None else 0
        minimal = fixed is None or self._rects is not None
        self._letterbox = Letterbox(self.imgsz, minimal=minimal, stride=stride, margin_strides=margin)
        self._square = Letterbox(self.imgsz)
        if self._rects is not None:  # the usual phone screenshot shapes, ahead of the first request
            phones = (1170 / 2532, 1080 / 1920)  # 9:19.5 and 9:16 portrait screens
            self._rects.prepare([self._letterbox.shape(self.imgsz, round(self.imgsz * r)) for r in phones])
        self._confidence, self._iou, self._agnostic = confidence, iou, agnostic_nms
        self._category_map = dict(category_map or {})
        self._keep = set(classes) if classes else None

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        if not self._fixed_batch and self._rects is None and images:  # one run for the batch
            prepared = [self._square(rgbx_or_rgb(img.pixels)) for img in images]
            inputs = [padded for padded, _ in prepared]
            if self.flip:  # the mirrors in the same run, after the images
                inputs += [flip_tta.mirror(padded) for padded in inputs]
            batch = np.concatenate([padded.transpose(2, 0, 1)[None] for padded in inputs])
            outputs = self._session.run(None, {self._input: self._normalise(batch)})[0]
            n = len(images)
            return [
                self._regions(outputs[i], img, geometry, outputs[n + i] if self.flip else None, self.imgsz)
                for i, (img, (_, geometry)) in enumerate(zip(images, prepared, strict=True))
            ]
        return [self._detect_one(img) for img in images]

    def input_shape(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of the model input for an image of this size (for FLOP counts)."""
        scale = min(self.imgsz / height, self.imgsz / width)
        return self._letterbox.shape(max(round(height * scale), 1), max(round(width * scale), 1))

    def _detect_one(self, image: DecodedImage) -> list[Region]:
        rgb = rgbx_or_rgb(image.pixels)
        padded, geometry = self._letterbox(rgb)
        session = self._session
        if self._rects is not None:
            session = self._rects.get((padded.shape[0], padded.shape[1]))
            if session is self._session and padded.shape[:2] != (self.imgsz, self.imgsz):
                padded, geometry = self._square(rgb)  # no export of this shape: the square graph
        raw = session.run(None, {self._input: self._normalise(padded.transpose(2, 0, 1)[None])})[0][0]
        mirrored = None
        if self.flip:  # static graphs take one image: a second run
            flipped = flip_tta.mirror(padded).transpose(2, 0, 1)[None]
            mirrored = session.run(None, {self._input: self._normalise(flipped)})[0][0]
        return self._regions(raw, image, geometry, mirrored, padded.shape[1])

    @staticmethod
    def _normalise(batch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255.0)

    def _regions(
        self,
        raw: np.ndarray,
        image: DecodedImage,
        geometry: tuple[float, float, int, int],
        mirrored: np.ndarray | None = None,
        input_width: int = 0,
    ) -> list[Region]:
        return regions_from_output(
            raw,
            image,
            geometry,
            mirrored=mirrored,
            input_width=input_width,
            confidence=self._confidence,
            iou=self._iou,
            agnostic=self._agnostic,
            class_names=self.class_names,
            category_map=self._category_map,
            keep=self._keep,
        )


def regions_from_output(
    raw: np.ndarray,
    image: DecodedImage,
    geometry: tuple[float, float, int, int],
    *,
    confidence: float,
    iou: float,
    agnostic: bool,
    class_names: Mapping[int, str],
    category_map: Mapping[str, str],
    keep: set[str] | None = None,
    mirrored: np.ndarray | None = None,
    input_width: int = 0,
) -> list[Region]:
    """One image's raw model output -> regions in its pixels (the letterbox ``geometry`` undone).

    With ``mirrored`` (the output on the mirrored input, ``input_width`` wide) the two passes are
    fused (flip TTA). Shared by the in-process detector and the Triton client (``detector/triton.py``)."""
    boxes, scores, classes = decode_passes(
        raw, mirrored, input_width, confidence=confidence, iou=iou, agnostic=agnostic
    )
    gain_x, gain_y, pad_x, pad_y = geometry
    width, height = image.pixels.size
    regions: list[Region] = []
    for (x1, y1, x2, y2), score, c in zip(boxes, scores, classes, strict=True):
        name = class_names.get(int(c), str(int(c)))
        if keep is not None and name not in keep:
            continue
        box = Box(
            float(np.clip((x1 - pad_x) / gain_x, 0, width)),
            float(np.clip((y1 - pad_y) / gain_y, 0, height)),
            float(np.clip((x2 - pad_x) / gain_x, 0, width)),
            float(np.clip((y2 - pad_y) / gain_y, 0, height)),
        )
        regions.append(Region(box, category_map.get(name, name), float(score)))
    return regions
