"""Triton Python-backend (BLS) model: screenshot bytes in, product regions and their vectors out.

One request does what lookalike's search does before the index: decode (EXIF-upright, large
JPEGs at a reduced DCT scale), letterbox, detect (a BLS call to the detector model; with flip
TTA on the input and its mirror, fused as ``detector/flip_tta.py`` does), NMS, keep
the useful regions, crop, resize and embed (a BLS call to the embedder model). The steps are
the in-process ones (``detector/onnx_yolo.py``, ``detector/regions.py``,
``embedder/preprocess.py``) restated in numpy, OpenCV and Pillow, so the results agree with
the in-process backend (``tests/test_triton_backends.py`` holds them to that).

Outputs: BOXES (n, 4) float32 in pixels of the original image, SCORES (n,), CLASSES (n,) int32
(-1: the whole image), VECTORS (n, dim) float32 L2-normalised.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import cv2
import numpy as np
import triton_python_backend_utils as pb_utils
from PIL import Image, ImageFile, ImageOps

PAD_VALUE = 114
MAX_DET = 300
CLASS_OFFSET = 7680.0
FUSE_IOU = 0.55  # detector/flip_tta.py
CANDIDATE_SHARE = 0.5
MEAN = np.asarray((0.485, 0.456, 0.406), np.float32).reshape(1, 3, 1, 1)
STD = np.asarray((0.229, 0.224, 0.225), np.float32).reshape(1, 3, 1, 1)


def decode(data: bytes, draft_long_side: int) -> tuple[Image.Image, float]:
    img: Image.Image = Image.open(io.BytesIO(data))
    width, height = img.size
    if (
        draft_long_side
        and isinstance(img, ImageFile.ImageFile)
        and img.format == "JPEG"
        and max(width, height) > draft_long_side
    ):
        ratio = draft_long_side / max(width, height)
        img.draft("RGB", (max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))))
    img.seek(0)
    img.load()
    scale = img.size[0] / width
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        img = background
    return img.convert("RGB") if img.mode != "RGB" else img, scale


def letterbox(
    rgb: np.ndarray, size: int, minimal: bool, stride: int, margin: int
) -> tuple[np.ndarray, tuple[float, float, int, int]]:
    h, w = rgb.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    if (w, h) != (new_w, new_h):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = float(size - new_w), float(size - new_h)
    if minimal:
        extra = stride * margin
        dw, dh = min(dw % stride + extra, dw), min(dh % stride + extra, dh)
    dw, dh = dw / 2, dh / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return padded, (new_w / w, new_h / h, left, top)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS, highest score first (torchvision's rule)."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.int64)


def decode_predictions(
    raw: np.ndarray, confidence: float, iou: float, agnostic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores_all = raw[4:]
    cls = scores_all.argmax(0)
    conf = scores_all[cls, np.arange(raw.shape[1])]
    keep = conf > confidence
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    cx, cy, bw, bh = raw[:4, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)
    conf, cls = conf[keep].astype(np.float32), cls[keep]
    shifted = boxes if agnostic else boxes + (cls[:, None] * CLASS_OFFSET).astype(np.float32)
    kept = nms(shifted, conf, iou)[:MAX_DET]
    return boxes[kept], conf[kept], cls[kept]


def iou_with(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    xx1, yy1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    xx2, yy2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def fuse_flip(
    raw: np.ndarray, mirrored: np.ndarray, width: int, confidence: float, iou: float, agnostic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flip TTA: the two passes' boxes clustered and fused (``detector/flip_tta.py``'s rule)."""
    floor = confidence * CANDIDATE_SHARE
    b0, s0, c0 = decode_predictions(raw, floor, iou, agnostic)
    b1, s1, c1 = decode_predictions(mirrored, floor, iou, agnostic)
    b1 = b1.copy()
    b1[:, 0], b1[:, 2] = width - b1[:, 2], width - b1[:, 0]
    boxes = np.concatenate([b0, b1]).astype(np.float32).reshape(-1, 4)
    scores = np.concatenate([s0, s1]).astype(np.float32)
    classes = np.concatenate([c0, c1]).astype(np.int64)
    passes = np.concatenate([np.zeros(len(s0), np.int64), np.ones(len(s1), np.int64)])
    leads: list[int] = []
    best: list[list[int]] = []
    for i in np.argsort(-scores, kind="stable").tolist():
        joined = -1
        if leads:
            overlap = iou_with(boxes[i], boxes[leads])
            if not agnostic:
                overlap[classes[leads] != classes[i]] = 0.0
            j = int(np.argmax(overlap))
            joined = j if overlap[j] >= FUSE_IOU else -1
        if joined < 0:
            leads.append(i)
            best.append([-1, -1])
            joined = len(leads) - 1
        p = int(passes[i])
        if best[joined][p] < 0:
            best[joined][p] = i
    if not leads:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    members = np.asarray(best, np.int64)
    weights = np.where(members >= 0, scores[members], 0.0).astype(np.float32)
    fused_scores = weights.sum(1) / 2
    fused_boxes = (weights[:, :, None] * boxes[members]).sum(1) / weights.sum(1, keepdims=True)
    fused_classes = classes[np.asarray(leads, np.int64)]
    keep = fused_scores > confidence
    fused_boxes, fused_scores, fused_classes = fused_boxes[keep], fused_scores[keep], fused_classes[keep]
    shifted = fused_boxes if agnostic else fused_boxes + fused_classes[:, None] * CLASS_OFFSET
    kept = nms(shifted.astype(np.float32), fused_scores.astype(np.float32), iou)[:MAX_DET]
    return fused_boxes[kept].astype(np.float32), fused_scores[kept].astype(np.float32), fused_classes[kept]


def pair_boxes(
    boxes: np.ndarray, classes: np.ndarray, pair_classes: set[int], inside: float = 0.7
) -> np.ndarray:
    """Mask of boxes of a paired class holding two smaller ones of it (``detector/regions.py``)."""
    out = np.zeros(len(boxes), bool)
    paired = [i for i in range(len(boxes)) if int(classes[i]) in pair_classes]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in paired:
        n = 0
        for j in paired:
            if j == i or area[j] >= area[i] or area[j] <= 0:
                continue
            w = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            h = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            n += max(0.0, w) * max(0.0, h) / area[j] >= inside
        out[i] = n >= 2
    return out


MAX_INTERMEDIATE_ASPECT = 4.0


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """``embedder.preprocess.resize_center_crop``: a crop longer than 4:1 resizes only its centre
    square (a long sleeve's box, a scarf), so its pixels are the in-process ones there too."""
    w, h = img.size
    if max(w, h) <= MAX_INTERMEDIATE_ASPECT * min(w, h):
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=2.0)
        left, top = (nw - size) // 2, (nh - size) // 2
        return img.crop((left, top, left + size, top + size))
    side = min(w, h)
    x0, y0 = (w - side) / 2, (h - side) / 2
    return img.resize(
        (size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + side, y0 + side), reducing_gap=2.0
    )


def bls(model: str, inputs: list[Any], output: str) -> np.ndarray:
    request = pb_utils.InferenceRequest(model_name=model, requested_output_names=[output], inputs=inputs)
    response = request.exec()
    if response.has_error():
        raise pb_utils.TritonModelException(f"{model}: {response.error().message()}")
    return pb_utils.get_output_tensor_by_name(response, output).as_numpy()


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        p = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.detector, self.embedder = p["detector_model"], p["embedder_model"]
        self.detector_input, self.detector_output = p["detector_input"], p["detector_output"]
        self.embedder_input, self.embedder_output = p["embedder_input"], p["embedder_output"]
        self.imgsz, self.stride = int(p["imgsz"]), int(p["stride"])
        self.minimal = p["rect_inputs"] == "1"
        self.margin = int(p["rect_margin_strides"]) if self.minimal else 0
        self.confidence, self.iou = float(p["confidence"]), float(p["iou"])
        self.agnostic = p["agnostic_nms"] == "1"
        self.flip = p.get("flip_tta", "0") == "1"
        self.detector_batch = int(p.get("detector_max_batch", "1"))
        self.max_regions, self.min_box_fraction = int(p["max_regions"]), float(p["min_box_fraction"])
        self.pair_classes = {int(c) for c in p.get("pair_classes", "").split(",") if c}
        self.image_size, self.draft_long_side = int(p["image_size"]), int(p["decode_long_side"])
        self.embed_batch = int(p["embed_batch"])

    def execute(self, requests: list[Any]) -> list[Any]:
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except Exception as exc:  # a bad image fails its own request, not the batch
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))))
        return responses

    def _one(self, request: Any) -> Any:
        data = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().reshape(-1).tobytes()
        image, scale = decode(data, self.draft_long_side)
        rgb = np.asarray(image)
        padded, (gain_x, gain_y, pad_x, pad_y) = letterbox(
            rgb, self.imgsz, self.minimal, self.stride, self.margin
        )
        batch = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)
        if self.flip:  # the mirror in the same call where the detector batches, else a second call
            mirror = np.ascontiguousarray(batch[:, :, :, ::-1])
            if self.detector_batch >= 2:
                both = np.concatenate([batch, mirror])
                out = bls(self.detector, [pb_utils.Tensor(self.detector_input, both)], self.detector_output)
            else:
                out = np.concatenate(
                    [
                        bls(self.detector, [pb_utils.Tensor(self.detector_input, x)], self.detector_output)
                        for x in (batch, mirror)
                    ]
                )
            boxes, scores, classes = fuse_flip(
                out[0], out[1], padded.shape[1], self.confidence, self.iou, self.agnostic
            )
        else:
            raw = bls(self.detector, [pb_utils.Tensor(self.detector_input, batch)], self.detector_output)[0]
            boxes, scores, classes = decode_predictions(raw, self.confidence, self.iou, self.agnostic)
        width, height = image.size
        boxes[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - pad_x) / gain_x, 0, width)
        boxes[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - pad_y) / gain_y, 0, height)
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        useful = (bw * bh >= self.min_box_fraction * width * height) & (bw >= 2) & (bh >= 2)
        boxes, scores, classes = boxes[useful], scores[useful], classes[useful]
        single = ~pair_boxes(boxes, classes, self.pair_classes)
        boxes, scores, classes = boxes[single], scores[single], classes[single]
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), -float(areas[i])))
        order = order[: self.max_regions]
        boxes, scores, classes = boxes[order], scores[order], classes[order].astype(np.int32)
        if not len(boxes):
            boxes = np.asarray([[0, 0, width, height]], np.float32)
            scores, classes = np.ones(1, np.float32), np.full(1, -1, np.int32)
        crops = [
            np.asarray(
                resize_center_crop(image.crop((int(x1), int(y1), round(x2), round(y2))), self.image_size)
            )
            for x1, y1, x2, y2 in boxes.tolist()
        ]
        x = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        x /= np.float32(255.0)
        x -= MEAN
        x /= STD
        parts = [
            bls(
                self.embedder,
                [pb_utils.Tensor(self.embedder_input, x[i : i + self.embed_batch])],
                self.embedder_output,
            )
            for i in range(0, len(x), self.embed_batch)
        ]
        vectors = np.concatenate(parts).reshape(len(x), -1).astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return pb_utils.InferenceResponse(
            [
                pb_utils.Tensor("BOXES", (boxes / np.float32(scale)).astype(np.float32)),
                pb_utils.Tensor("SCORES", scores.astype(np.float32)),
                pb_utils.Tensor("CLASSES", classes),
                pb_utils.Tensor("VECTORS", vectors),
            ]
        )
