"""Box recall/precision of any detector on a YOLO-format folder, overall and per layout.

Class-agnostic at IoU 0.5, because the search only needs the region right; the region's class
is a filter hint. Layout names come from the file names ``<split>_<n>_<layout>.jpg``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from detector.base import Detector
from lookalike.imaging import decode_image
from lookalike.types import Box


@dataclass(frozen=True, slots=True)
class BoxScore:
    images: int
    truth: int
    detected: int
    matched: int

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "images": self.images,
            "truth": self.truth,
            "detected": self.detected,
            "matched": self.matched,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
        }


def read_truth(label_file: Path, width: int, height: int) -> list[Box]:
    boxes = []
    for line in label_file.read_text().splitlines():
        _, cx, cy, w, h = (float(v) for v in line.split())
        boxes.append(
            Box((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
        )
    return boxes


def greedy_pairs(truth: list[Box], detected: list[Box], threshold: float = 0.5) -> dict[int, int]:
    """One-to-one matches, best IoU first: truth index -> detection index."""
    pairs = sorted(
        ((t.iou(d), i, j) for i, t in enumerate(truth) for j, d in enumerate(detected)), reverse=True
    )
    used_d: set[int] = set()
    out: dict[int, int] = {}
    for iou, i, j in pairs:
        if iou < threshold:
            break
        if i not in out and j not in used_d:
            out[i] = j
            used_d.add(j)
    return out


def greedy_matches(truth: list[Box], detected: list[Box], threshold: float = 0.5) -> int:
    """How many one-to-one matches, best IoU first."""
    return len(greedy_pairs(truth, detected, threshold))


def score_folder(detector: Detector, root: Path, split: str = "val", batch: int = 8) -> dict[str, BoxScore]:
    """``{"all": ..., "<layout>": ...}`` for the images of ``root/images/<split>``."""
    files = sorted((root / "images" / split).glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no images under {root / 'images' / split}")
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for start in range(0, len(files), batch):
        chunk = files[start : start + batch]
        images = [decode_image(f.read_bytes(), source=f.name) for f in chunk]
        for f, img, regions in zip(chunk, images, detector.detect(images), strict=True):
            truth = read_truth(root / "labels" / split / f"{f.stem}.txt", img.width, img.height)
            detected = [r.box for r in regions]
            matched = greedy_matches(truth, detected)
            for key in ("all", f.stem.split("_", 2)[-1]):
                t = totals[key]
                t[0] += 1
                t[1] += len(truth)
                t[2] += len(detected)
                t[3] += matched
    return {k: BoxScore(*v) for k, v in sorted(totals.items())}
