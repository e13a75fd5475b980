"""Per-class NMS as ultralytics runs it: each class's boxes shifted apart, then
``torchvision.ops.nms`` (the kernel ultralytics itself calls). Shared by the YOLO output decode
and the flip TTA fusion, so both passes and their fusion suppress boxes by one rule."""

from __future__ import annotations

import numpy as np

MAX_DET = 300
CLASS_OFFSET = 7680.0  # ultralytics' max_wh: per-class NMS by shifting each class apart


def class_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, agnostic: bool
) -> np.ndarray:
    """Indices of the boxes kept, best first, at most ``MAX_DET``; across classes when ``agnostic``."""
    import torch
    from torchvision.ops import nms

    boxes = boxes.astype(np.float32, copy=False)
    shifted = boxes if agnostic else boxes + (classes[:, None] * CLASS_OFFSET).astype(np.float32)
    kept: np.ndarray = nms(
        torch.from_numpy(shifted), torch.from_numpy(scores.astype(np.float32)), iou
    ).numpy()
    return kept[:MAX_DET]
