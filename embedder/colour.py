"""Colour histograms appended to any embedder's vectors: what an ImageNet network throws away.

A pooled ImageNet feature is trained to ignore colour (a green apple and a red one are both
"Granny Smith"-ish to it), yet colour is what tells a lime from a Granny Smith, an orange pepper
from a yellow one, a Royal Gala from a Pink Lady. The histogram (hue 24 x saturation 4 x value 4,
over the whole crop and over its central half, square-rooted so that a linear projection compares
them as Hellinger distances) costs a 64x64 resize per crop, nothing beside the network.

It is meant as input to ``lookalike adapt``: the whitened discriminant projection there learns how
much of it to trust; on its own it mostly adds noise. Part of the vectors' name (``+colour``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from embedder.base import Embedder
from lookalike.types import Vectors

SUFFIX = "+colour"
SIDE = 64
HUE, SATURATION, VALUE = 24, 4, 4
BINS = HUE * SATURATION * VALUE
WEIGHT = 0.5
"""The histograms' share of the vector's length beside the network's (unit) vector."""


def colour_histogram(image: Image.Image) -> np.ndarray:
    """``2 * BINS`` values: square roots of the whole crop's and the central half's HSV histograms."""
    hsv = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR).convert("HSV"))
    q = SIDE // 4
    parts = []
    for region in (hsv, hsv[q : SIDE - q, q : SIDE - q]):
        px = region.reshape(-1, 3).astype(np.int64)
        code = (px[:, 0] * HUE // 256 * SATURATION + px[:, 1] * SATURATION // 256) * VALUE
        code += px[:, 2] * VALUE // 256
        counts = np.bincount(code, minlength=BINS).astype(np.float32)
        parts.append(np.sqrt(counts / counts.sum()))
    return np.concatenate(parts)


class WithColour:
    """Any embedder's unit vector, then ``WEIGHT`` x the crop's colour histograms, normalised again."""

    def __init__(self, base: Embedder) -> None:
        self.base = base
        self.spec = f"{base.spec}{SUFFIX}"
        self.dim = base.dim + 2 * BINS

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        net = self.base.embed_images(images)
        net = net / np.maximum(np.linalg.norm(net, axis=1, keepdims=True), 1e-12)
        hist = np.stack([colour_histogram(im) for im in images])
        hist /= np.maximum(np.linalg.norm(hist, axis=1, keepdims=True), 1e-12)
        both = np.concatenate([net, WEIGHT * hist], axis=1)
        return (both / np.linalg.norm(both, axis=1, keepdims=True)).astype(np.float32)


__all__ = ["BINS", "SUFFIX", "WithColour", "colour_histogram"]
