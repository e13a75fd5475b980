"""'blocks': find photo blocks in app screenshots with classical image analysis (OpenCV).

Screenshots are flat UI (solid fills, text, icons) around photographs. Photographs are
large areas of continuous texture and broad tonal range; UI is flat or two-tone. No
garment detector ships in a registry package, and whole-screenshot embeddings are poor, so
this is the offline default until a trained detector (``yolo:<weights>``) is configured.
It proposes regions; it does not know categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from lookalike.types import Box, DecodedImage, Region

ANALYSIS_SIDE = 640  # long side of the working copy: enough for boxes, cheap to filter


class PhotoBlockDetector:
    """Proposes up to ``max_regions`` photo-like blocks per image, best first."""

    spec = "blocks"

    def __init__(
        self,
        *,
        max_regions: int = 5,
        texture_threshold: float = 1.5,
        min_side_fraction: float = 0.12,
        min_entropy_bits: float = 4.5,
        max_mode_fraction: float = 0.6,
        close_fraction: float = 0.03,
        open_fraction: float = 0.07,
        gutter_fraction: float = 0.008,
        split: bool = True,
    ) -> None:
        self.gutter_fraction = gutter_fraction
        self.split = split
        self.close_fraction = close_fraction
        self.open_fraction = open_fraction
        self.max_regions = max_regions
        self.texture_threshold = texture_threshold
        self.min_side_fraction = min_side_fraction
        self.min_entropy_bits = min_entropy_bits
        self.max_mode_fraction = max_mode_fraction

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        return [self._detect_one(img) for img in images]

    def _detect_one(self, image: DecodedImage) -> list[Region]:
        rgb = np.asarray(image.pixels)
        scale = ANALYSIS_SIDE / max(image.width, image.height)
        if scale < 1.0:
            small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        else:
            small, scale = rgb, 1.0
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        textured = self._texture_mask(small)
        h, w = gray.shape
        short = min(h, w)
        close_k = max(3, int(short * self.close_fraction) | 1)
        open_k = max(3, int(short * self.open_fraction) | 1)
        mask = cv2.morphologyEx(textured, cv2.MORPH_CLOSE, np.ones((close_k, close_k), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((open_k, open_k), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        regions: list[Region] = []
        min_side = self.min_side_fraction * short
        gutter = max(2, int(short * self.gutter_fraction))
        boxes: list[tuple[int, int, int, int]] = []
        for i in range(1, count):
            x, y, bw, bh, _ = (int(v) for v in stats[i])
            if bw >= min_side and bh >= min_side:
                boxes.extend(
                    _xy_cut(textured, (x, y, x + bw, y + bh), gutter, min_side)
                    if self.split
                    else [(x, y, x + bw, y + bh)]
                )
        for x1, y1, x2, y2 in boxes:
            x, y, bw, bh = x1, y1, x2 - x1, y2 - y1
            if bw < min_side or bh < min_side:
                continue
            fill = float(mask[y : y + bh, x : x + bw].mean())
            patch = gray[y : y + bh, x : x + bw]
            entropy = _entropy_bits(patch)
            if (
                entropy < self.min_entropy_bits
                or fill < 0.4
                or _mode_fraction(patch) > self.max_mode_fraction
            ):
                continue
            score = float(min(1.0, 0.5 * fill + 0.5 * min(1.0, entropy / 7.0)))
            box = Box(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale).clipped(
                image.width, image.height
            )
            regions.append(Region(box, None, score))
        regions.sort(key=lambda r: -r.box.area * r.score)
        return regions[: self.max_regions]

    def _texture_mask(self, rgb: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
        """Pixels whose 3x3 neighbourhood varies: photographs (and text edges); not flat fills."""
        f = rgb.astype(np.float32)
        mean = cv2.blur(f, (3, 3))
        sq = cv2.blur(f * f, (3, 3))
        std = np.sqrt(np.maximum(sq - mean * mean, 0.0)).max(axis=2)
        return (std > self.texture_threshold).astype(np.uint8)


def _xy_cut(
    textured: npt.NDArray[np.uint8],
    box: tuple[int, int, int, int],
    gutter: int,
    min_side: float,
    depth: int = 0,
) -> list[tuple[int, int, int, int]]:
    """Split a block along flat gutters (rows or columns with almost no texture).

    Neighbouring photos in a grid, or a photo under another picture, merge into one block when
    the gap between them is narrow; the flat gap itself still shows in the raw texture map.
    """
    x1, y1, x2, y2 = box
    sub = textured[y1:y2, x1:x2]
    if depth >= 4 or sub.size == 0:
        return [box]
    for axis in (0, 1):  # 0: horizontal gutters (split rows), 1: vertical gutters
        profile = sub.mean(axis=1 - axis)
        flat = profile < 0.03
        cut = _widest_inner_run(flat, gutter, min_side)
        if cut is not None:
            a, b = cut
            parts = (
                [(x1, y1, x2, y1 + a), (x1, y1 + b, x2, y2)]
                if axis == 0
                else [(x1, y1, x1 + a, y2), (x1 + b, y1, x2, y2)]
            )
            out: list[tuple[int, int, int, int]] = []
            for part in parts:
                out.extend(_xy_cut(textured, _trim(textured, part), gutter, min_side, depth + 1))
            return out
    return [box]


def _widest_inner_run(flat: npt.NDArray[np.bool_], min_len: int, min_side: float) -> tuple[int, int] | None:
    """The widest run of flat lines at least ``min_len`` long leaving both sides >= min_side."""
    best: tuple[int, int] | None = None
    start = None
    for i, is_flat in enumerate([*flat.tolist(), False]):
        if is_flat and start is None:
            start = i
        elif not is_flat and start is not None:
            inner = start >= min_side and len(flat) - i >= min_side
            if i - start >= min_len and inner and (best is None or i - start > best[1] - best[0]):
                best = (start, i)
            start = None
    return best


def _trim(textured: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Shrink a box to the extent of its textured pixels."""
    x1, y1, x2, y2 = box
    ys, xs = np.nonzero(textured[y1:y2, x1:x2])
    if len(xs) == 0:
        return box
    return (x1 + int(xs.min()), y1 + int(ys.min()), x1 + int(xs.max()) + 1, y1 + int(ys.max()) + 1)


def _entropy_bits(gray: npt.NDArray[Any]) -> float:
    """Shannon entropy of the grey-level histogram: photos ~6-7.5 bits, text and icons ~1-3."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def _mode_fraction(gray: npt.NDArray[Any]) -> float:
    """Share of pixels within 4 grey levels of the commonest one: high for text on a flat fill."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    return float(np.convolve(hist, np.ones(9), mode="same").max() / max(1, gray.size))
