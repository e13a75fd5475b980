"""Box recall and precision of a detector on people photos, per class, at IoU 0.5.

Matching is class-agnostic (search needs the box; the class is a hint): a garment counts as found
when any detection overlaps it at IoU >= 0.5, one detection per garment. Recall is per garment
class, precision per class the detector named. A detection that matches nothing but lies mostly
on an excluded item (stockings, a belt: ``people_labels.EXCLUDED``) is neither right nor wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detector.base import Detector
from detector.training.classes import ClassMap
from detector.training.evaluate import greedy_pairs
from detector.training.people import PeoplePhoto, labels_of
from lookalike.imaging import decode_image
from lookalike.types import Box, DecodedImage, Region

RegionRule = Callable[[list[Region], DecodedImage], list[Region]]

IGNORE_COVER = 0.5


@dataclass(frozen=True, slots=True)
class ClassScore:
    truth: int
    found: int
    detected: int
    correct: int

    @property
    def recall(self) -> float:
        return self.found / self.truth if self.truth else 0.0

    @property
    def precision(self) -> float:
        return self.correct / self.detected if self.detected else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "truth": self.truth,
            "found": self.found,
            "detected": self.detected,
            "correct": self.correct,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
        }


def _covered(box: Box, region: Box) -> float:
    w = min(box.x2, region.x2) - max(box.x1, region.x1)
    h = min(box.y2, region.y2) - max(box.y1, region.y1)
    return max(0.0, w) * max(0.0, h) / box.area if box.area > 0 else 0.0


def score_people(
    detector: Detector,
    photos: Sequence[PeoplePhoto],
    class_map: ClassMap,
    *,
    batch: int = 8,
    keep: RegionRule | None = None,
) -> dict[str, ClassScore]:
    """``{"all": ..., "<class>": ...}`` over ``photos`` (boxes scaled to the decoded pixels).

    ``keep`` filters each photo's detections as the search does (``select_regions``)."""
    truth_n: Counter[str] = Counter()
    found_n: Counter[str] = Counter()
    det_n: Counter[str] = Counter()
    correct_n: Counter[str] = Counter()
    for start in range(0, len(photos), batch):
        chunk = photos[start : start + batch]
        images = [decode_image(p.path.read_bytes(), source=p.path.name) for p in chunk]
        for photo, image, found in zip(chunk, images, detector.detect(images), strict=True):
            regions = keep(found, image) if keep is not None else found
            sx, sy = image.width / photo.width, image.height / photo.height
            kept, excluded = labels_of(photo, class_map)
            truth = [Box(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy) for b in kept]
            ignore = [Box(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy) for b in excluded]
            pairs = greedy_pairs(truth, [r.box for r in regions])
            matched = set(pairs.values())
            for i, b in enumerate(kept):
                name = class_map.classes[b.cls]
                truth_n[name] += 1
                found_n[name] += i in pairs
            for j, r in enumerate(regions):
                if j not in matched and any(_covered(r.box, g) >= IGNORE_COVER for g in ignore):
                    continue
                name = r.category or "?"
                det_n[name] += 1
                correct_n[name] += j in matched
    names = sorted(set(truth_n) | set(det_n), key=lambda n: (n not in class_map.classes, n))
    out = {"all": ClassScore(truth_n.total(), found_n.total(), det_n.total(), correct_n.total())}
    out.update({n: ClassScore(truth_n[n], found_n[n], det_n[n], correct_n[n]) for n in names})
    return out
