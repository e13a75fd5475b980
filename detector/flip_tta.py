"""Horizontal-flip test-time augmentation: the detector runs on the letterboxed input and on its
mirror image, and the two passes' boxes are fused.

A garment the network scores 0.10 one way and 0.20 the other is found more reliably by the mean
of the two than by either alone (docs/LOG.md, worn garments round 5), and a box only one pass
sees is usually a false one. The rule: each pass keeps its candidates above half the confidence
(NMS at the detector's IoU); both passes' boxes, best first, form clusters (a box joins the
cluster whose lead box overlaps it at IoU >= ``FUSE_IOU``); a cluster's score is the mean of each
pass's best score in it (a pass with no box there counts 0, so a box seen by one pass only keeps
half its score), its box the score-weighted mean of those two best boxes, its class the lead's;
clusters above the confidence are kept, and NMS at the detector's IoU runs once more over them
(``detector/nms.py``, the decode's own).

The Triton pipeline model restates it in numpy (``triton_repo/models/pipeline.py``).
"""

from __future__ import annotations

import numpy as np

from detector.nms import class_nms

FUSE_IOU = 0.55
"""Boxes of the two passes at this IoU or more are the same object."""

CANDIDATE_SHARE = 0.5
"""Each pass keeps boxes above this share of the confidence: under it a pass counts as 0."""

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]
"""xyxy boxes (n, 4) float32, scores (n,) float32, class ids (n,) int64, in input pixels."""


def mirror(padded: np.ndarray) -> np.ndarray:
    """The letterboxed HWC input mirrored left to right.

    Where the letterbox pads one pixel more on the right, the mirror's content sits a pixel off
    the mirrored photo's own letterbox: a mirrored photo gives the mirrored boxes to about a pixel,
    and a box at the confidence edge may differ."""
    return np.ascontiguousarray(padded[:, ::-1])


def unmirror(boxes: np.ndarray, width: int) -> np.ndarray:
    """Boxes found on the mirrored input, in the input's own pixels."""
    out = boxes.copy()
    out[:, 0], out[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return out


def iou_with(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes``."""
    xx1, yy1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    xx2, yy2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def fuse(
    straight: Detections,
    mirrored: Detections,
    *,
    confidence: float,
    iou: float,
    agnostic: bool,
) -> Detections:
    """The two passes' detections (the mirrored one already ``unmirror``-ed) fused into one set."""
    boxes = np.concatenate([straight[0], mirrored[0]]).astype(np.float32).reshape(-1, 4)
    scores = np.concatenate([straight[1], mirrored[1]]).astype(np.float32)
    classes = np.concatenate([straight[2], mirrored[2]]).astype(np.int64)
    passes = np.concatenate([np.zeros(len(straight[1]), np.int64), np.ones(len(mirrored[1]), np.int64)])
    leads: list[int] = []
    best: list[list[int]] = []  # per cluster: the best box of pass 0 and of pass 1 (-1: none)
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
    kept = class_nms(fused_boxes, fused_scores, fused_classes, iou, agnostic)
    return (
        fused_boxes[kept].astype(np.float32),
        fused_scores[kept].astype(np.float32),
        fused_classes[kept],
    )
