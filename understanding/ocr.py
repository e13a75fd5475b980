"""Reading the text in an image with PP-OCR (the ONNX models packaged in ``rapidocr-onnxruntime``).

RapidOCR's own pipeline resizes a phone screenshot to 736 px on its *short* side (736x1600),
classifies every line's orientation and recognises every line. A screenshot is upright and
its useful text is large, so this reader runs the same models through the house's ONNX sessions
(``lookalike.onnx_sessions``: threads per the execution policy) with three savings: the detector
sees the image at ``detect_long_side``, lines lower than ``min_line_height`` are never
recognised, and no orientation model runs. Its pre- and post-processing are RapidOCR's.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from lookalike.execution import ExecutionPolicy
from lookalike.onnx_sessions import AdaptiveSession, open_session
from lookalike.types import Box, TextLine

PACKAGE = "rapidocr_onnxruntime"
DETECTOR_FILE = "ch_PP-OCRv4_det_infer.onnx"
RECOGNISER_FILE = "ch_PP-OCRv4_rec_infer.onnx"
REC_HEIGHT = 48
REC_MIN_WIDTH = 320
REC_BATCH = 8
DET_MEAN_STD = 0.5


def models_dir() -> Path:
    """The packaged model folder, found without importing the package (its import loads yaml, tqdm...)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"OCR needs the {PACKAGE} package (pip install 'rapidocr-onnxruntime==1.4.4')")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True)
class ReaderOptions:
    """How much work one read does (see ``UnderstandingSettings``)."""

    detect_long_side: int = 960
    min_line_height: int = 10
    max_lines: int = 48
    min_line_score: float = 0.6
    threads: int = 0


class TextReader:
    """Detects text lines, then recognises them; ``probe`` answers "is there text?" cheaply."""

    def __init__(
        self, options: ReaderOptions | None = None, execution: ExecutionPolicy | None = None
    ) -> None:
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
        from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode

        self.options = options or ReaderOptions()
        folder = models_dir()
        self.detector: AdaptiveSession = open_session(folder / DETECTOR_FILE, self.options.threads, execution)
        self.recogniser: AdaptiveSession = open_session(
            folder / RECOGNISER_FILE, self.options.threads, execution
        )
        characters = self.recogniser.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._decode = CTCLabelDecode(character=characters)
        self._boxes = DBPostProcess(
            thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6, use_dilation=True
        )
        self.spec = f"pp-ocrv4:{self.options.detect_long_side}"

    def detect(self, image: Image.Image, long_side: int | None = None) -> list[npt.NDArray[np.float32]]:
        """Text line quadrilaterals (4x2, image pixels), top to bottom."""
        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1]
        h, w = bgr.shape[:2]
        side = long_side or self.options.detect_long_side
        ratio = min(1.0, side / max(h, w))
        rh, rw = max(32, round(h * ratio / 32) * 32), max(32, round(w * ratio / 32) * 32)
        resized = np.asarray(
            Image.fromarray(np.ascontiguousarray(bgr)).resize((rw, rh), Image.Resampling.BILINEAR)
        )
        x = (resized.astype(np.float32) / 255.0 - DET_MEAN_STD) / DET_MEAN_STD
        x = x.transpose(2, 0, 1)[None]
        (prob,) = self.detector.run(None, {self.detector.get_inputs()[0].name: x})
        boxes, _scores = self._boxes(prob, (h, w))
        if len(boxes) == 0:
            return []
        quads = [np.asarray(b, dtype=np.float32) for b in boxes]
        return sorted(quads, key=lambda q: (float(q[:, 1].min()), float(q[:, 0].min())))

    def probe(self, image: Image.Image, long_side: int) -> float:
        """Share of the image covered by text lines, read at a low resolution (a few ms)."""
        area = sum(_quad_box(q).area for q in self.detect(image, long_side))
        return area / float(image.width * image.height)

    def read(self, image: Image.Image, timings: dict[str, float] | None = None) -> list[TextLine]:
        """Every text line with its box (image pixels) and confidence, in reading order; the
        milliseconds of detection and recognition are added to ``timings`` when given."""
        start = time.perf_counter()
        quads = self.detect(image)
        if timings is not None:
            timings["ocr_detect"] = (time.perf_counter() - start) * 1000.0
        scale = self.options.detect_long_side / max(image.width, image.height)
        min_height = self.options.min_line_height / min(1.0, scale)
        kept = [q for q in quads if _quad_height(q) >= min_height]
        if len(kept) > self.options.max_lines:
            largest = sorted(kept, key=lambda q: -_quad_box(q).area)[: self.options.max_lines]
            kept = [q for q in kept if any(q is k for k in largest)]
        if not kept:
            return []
        bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        start = time.perf_counter()
        crops = [_line_crop(bgr, q) for q in kept]
        texts = self.recognise(crops)
        if timings is not None:
            timings["ocr_recognise"] = (time.perf_counter() - start) * 1000.0
            timings["ocr_lines"] = float(len(kept))
        lines = [
            TextLine(text.strip(), _quad_box(q), score)
            for q, (text, score) in zip(kept, texts, strict=True)
            if score >= self.options.min_line_score and text.strip()
        ]
        return lines

    def recognise(self, crops: list[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """(text, confidence) per line crop (BGR); similar widths batched together."""
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        name = self.recogniser.get_inputs()[0].name
        for start in range(0, len(order), REC_BATCH):
            batch = order[start : start + REC_BATCH]
            ratio = max(REC_MIN_WIDTH / REC_HEIGHT, *(crops[i].shape[1] / crops[i].shape[0] for i in batch))
            width = math.ceil(REC_HEIGHT * ratio)
            x = np.stack([_rec_input(crops[i], width) for i in batch])
            (probs,) = self.recogniser.run(None, {name: x})
            for i, (text, score) in zip(batch, self._decode(probs), strict=True):
                out[i] = (str(text), float(score))
        return out


def _quad_box(q: npt.NDArray[np.float32]) -> Box:
    return Box(float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))


def _quad_height(q: npt.NDArray[np.float32]) -> float:
    return float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))


def _line_crop(bgr: npt.NDArray[np.uint8], q: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The line straightened to a rectangle (RapidOCR's perspective crop)."""
    import cv2

    width = max(1, int(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3]))))
    height = max(1, int(_quad_height(q)))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(q.astype(np.float32), target)
    crop = cv2.warpPerspective(
        bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] / crop.shape[1] >= 1.5:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


def _rec_input(crop: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.float32]:
    """Height 48, the aspect kept, right-padded with zeros to ``width``; scaled to [-1, 1]."""
    import cv2

    h, w = crop.shape[:2]
    resized_w = min(width, math.ceil(REC_HEIGHT * w / h))
    resized = cv2.resize(crop, (resized_w, REC_HEIGHT)).astype(np.float32)
    out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
    out[:, :, :resized_w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return out


class ReadCache:
    """Lines read per image hash: a second search of one screenshot (another tapped box, other
    filters) reads nothing again."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._lines: OrderedDict[str, list[TextLine]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> list[TextLine] | None:
        with self._lock:
            found = self._lines.get(key)
            if found is not None:
                self._lines.move_to_end(key)
            return found

    def put(self, key: str, lines: list[TextLine]) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            self._lines[key] = lines
            self._lines.move_to_end(key)
            while len(self._lines) > self.entries:
                self._lines.popitem(last=False)


def describe(lines: list[TextLine]) -> list[dict[str, Any]]:
    """Lines as plain data (for logs and reports)."""
    return [{"text": t.text, "box": t.box.as_list(), "score": round(t.score, 3)} for t in lines]
