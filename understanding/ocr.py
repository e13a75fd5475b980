"""Reading the text in an image with PP-OCR (the ONNX models packaged in ``rapidocr-onnxruntime``).

RapidOCR's own pipeline resizes a phone screenshot to 736 px on its *short* side (736x1600),
classifies every line's orientation and recognises every line padded to at least 320 px. A
screenshot is upright and its useful text is large, so this reader runs the same models through
the house's ONNX sessions (``lookalike.onnx_sessions``: threads per the execution policy) with
these savings: the detector sees the image at ``detect_long_side``; lines lower than
``min_line_height`` are never recognised; no orientation model runs; each line is recognised at
its own width (48 px high, rounded up to 32 px), and only the lines asked for
(``recognise_lines``: the search asks for those of its product regions). Its pre- and
post-processing are RapidOCR's.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeRequest
from lookalike.onnx_sessions import Session, open_session
from lookalike.types import Box, TextLine

PACKAGE = "rapidocr_onnxruntime"
DETECTOR_FILE = "ch_PP-OCRv4_det_infer.onnx"
RECOGNISER_FILE = "ch_PP-OCRv4_rec_infer.onnx"
REC_HEIGHT = 48
REC_WIDTH_STEP = 32
"""Line widths are rounded up to this step, so lines of similar widths share one recogniser run."""
DET_MEAN_STD = 0.5

Quad = npt.NDArray[np.float32]
T = TypeVar("T")


def models_dir() -> Path:
    """The packaged model folder, found without importing the package (its import loads yaml, tqdm...)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"OCR needs the {PACKAGE} package (pip install 'rapidocr-onnxruntime==1.4.4')")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True)
class ReaderOptions:
    """How much work one read does (see ``UnderstandingSettings``)."""

    detect_long_side: int = 640
    min_line_height: int = 10
    max_lines: int = 48
    min_line_score: float = 0.6
    threads: int = 0
    runtime: RuntimeRequest | None = None
    """Engine and precision (``lookalike.model_runtime``); None: ONNX Runtime in fp32."""


class TextReader:
    """Finds text lines (``find``), then recognises the ones asked for (``recognise_lines``);
    ``read`` does both for every line; ``probe`` answers "is there text?" cheaply."""

    def __init__(
        self, options: ReaderOptions | None = None, execution: ExecutionPolicy | None = None
    ) -> None:
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
        from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode

        self.options = options or ReaderOptions()
        folder = models_dir()
        threads, runtime = self.options.threads, self.options.runtime
        self.detector: Session = open_session(
            folder / DETECTOR_FILE, threads, execution, _trial(runtime, self.detector_trial_shape())
        )
        self.recogniser: Session = open_session(
            folder / RECOGNISER_FILE, threads, execution, _trial(runtime, (1, 3, REC_HEIGHT, 320))
        )
        characters = self.recogniser.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._decode = CTCLabelDecode(character=characters)
        self._boxes = DBPostProcess(
            thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6, use_dilation=True
        )
        self.spec = f"pp-ocrv4:{self.options.detect_long_side}"

    def detector_trial_shape(self) -> tuple[int, int, int, int]:
        """A phone screenshot (19.5:9) at the detector's input size: what ``auto`` times it on."""
        side = self.options.detect_long_side
        return (1, 3, max(32, round(side / 32) * 32), max(32, round(side * 9 / 19.5 / 32) * 32))

    def detect(self, image: Image.Image, long_side: int | None = None) -> list[Quad]:
        """Text line quadrilaterals (4x2, image pixels), top to bottom."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        w, h = rgb.size
        side = long_side or self.options.detect_long_side
        ratio = min(1.0, side / max(h, w))
        rh, rw = max(32, round(h * ratio / 32) * 32), max(32, round(w * ratio / 32) * 32)
        # resize first, then flip to BGR: only the detector's small input is copied
        bgr = np.asarray(rgb.resize((rw, rh), Image.Resampling.BILINEAR))[:, :, ::-1]
        x = (bgr.astype(np.float32) / 255.0 - DET_MEAN_STD) / DET_MEAN_STD
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        (prob,) = self.detector.run(None, {self.detector.get_inputs()[0].name: x})
        boxes, _scores = self._boxes(prob, (h, w))
        if len(boxes) == 0:
            return []
        quads = [np.asarray(b, dtype=np.float32) for b in boxes]
        return sorted(quads, key=lambda q: (float(q[:, 1].min()), float(q[:, 0].min())))

    def probe(self, image: Image.Image, long_side: int) -> float:
        """Share of the image covered by text lines, read at a low resolution (a few ms)."""
        return text_share(self.detect(image, long_side), image)

    def find(self, image: Image.Image) -> list[Quad]:
        """The text lines worth recognising at all (``min_line_height`` of the detector's input
        or taller), top to bottom."""
        quads = self.detect(image)
        scale = self.options.detect_long_side / max(image.width, image.height)
        min_height = self.options.min_line_height / min(1.0, scale)
        return [q for q in quads if quad_height(q) >= min_height]

    def read(self, image: Image.Image, timings: dict[str, float] | None = None) -> list[TextLine]:
        """Every text line (at most ``max_lines``, the tallest) with its box (image pixels) and
        confidence, in reading order; the milliseconds of detection and recognition are added to
        ``timings`` when given."""
        timings = {} if timings is None else timings
        start = time.perf_counter()
        quads = self.find(image)
        timings["ocr_detect"] = (time.perf_counter() - start) * 1000.0
        if len(quads) > self.options.max_lines:
            tallest = sorted(range(len(quads)), key=lambda i: -quad_height(quads[i]))
            quads = [quads[i] for i in sorted(tallest[: self.options.max_lines])]
        read = self.recognise_lines(image, quads, timings)
        return [line for line in read if line is not None]

    def recognise_lines(
        self, image: Image.Image, quads: list[Quad], timings: dict[str, float] | None = None
    ) -> list[TextLine | None]:
        """The line in each quad (None: read with less than ``min_line_score``, or blank)."""
        if not quads:
            return []
        start = time.perf_counter()
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        texts = self.recognise([_line_crop(rgb, q) for q in quads])
        if timings is not None:
            spent = (time.perf_counter() - start) * 1000.0
            timings["ocr_recognise"] = timings.get("ocr_recognise", 0.0) + spent
            timings["ocr_lines"] = timings.get("ocr_lines", 0.0) + float(len(quads))
        return [
            TextLine(text.strip(), quad_box(q), score)
            if score >= self.options.min_line_score and text.strip()
            else None
            for q, (text, score) in zip(quads, texts, strict=True)
        ]

    def recognise(self, crops: list[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """(text, confidence) per line crop (BGR). Each line is scaled to 48 px high and padded to
        its own width rounded up to ``REC_WIDTH_STEP`` (RapidOCR pads every line to at least 320 px
        and to the widest of its batch: the recogniser's cost grows with the width); lines of one
        width share a run."""
        widths = [rec_width(c) for c in crops]
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        name = self.recogniser.get_inputs()[0].name
        for width in sorted(set(widths)):
            batch = [i for i, w in enumerate(widths) if w == width]
            x = np.stack([_rec_input(crops[i], width) for i in batch])
            (probs,) = self.recogniser.run(None, {name: x})
            for i, (text, score) in zip(batch, self._decode(probs), strict=True):
                out[i] = (str(text), float(score))
        return out


def _trial(runtime: RuntimeRequest | None, shape: tuple[int, ...]) -> RuntimeRequest | None:
    """The models' dimensions are dynamic: ``auto`` times them on a real input size."""
    return None if runtime is None else replace(runtime, trial_shape=shape)


def rec_width(crop: npt.NDArray[np.uint8]) -> int:
    """The recogniser input width of a line crop: its width at 48 px high, rounded up."""
    h, w = crop.shape[:2]
    return max(REC_WIDTH_STEP, math.ceil(REC_HEIGHT * w / max(h, 1) / REC_WIDTH_STEP) * REC_WIDTH_STEP)


def text_share(quads: list[Quad], image: Image.Image) -> float:
    """Share of the image that text lines cover."""
    return sum(quad_box(q).area for q in quads) / float(image.width * image.height)


def quad_box(q: npt.NDArray[np.float32]) -> Box:
    return Box(float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))


def quad_height(q: npt.NDArray[np.float32]) -> float:
    return float(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))


def _line_crop(rgb: npt.NDArray[np.uint8], q: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The line straightened to a rectangle (RapidOCR's perspective crop), BGR."""
    import cv2

    width = max(1, int(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3]))))
    height = max(1, int(quad_height(q)))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(q.astype(np.float32), target)
    crop = cv2.warpPerspective(
        rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] / crop.shape[1] >= 1.5:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop[:, :, ::-1])


def _rec_input(crop: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.float32]:
    """Height 48, the aspect kept, right-padded with zeros to ``width``; scaled to [-1, 1]."""
    import cv2

    h, w = crop.shape[:2]
    resized_w = min(width, math.ceil(REC_HEIGHT * w / h))
    resized = cv2.resize(crop, (resized_w, REC_HEIGHT)).astype(np.float32)
    out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
    out[:, :, :resized_w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return out


class ReadCache(Generic[T]):
    """What was read per image hash: a second search of one screenshot (another tapped box, other
    filters) reads nothing again."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._lines: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            found = self._lines.get(key)
            if found is not None:
                self._lines.move_to_end(key)
            return found

    def put(self, key: str, lines: T) -> None:
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
