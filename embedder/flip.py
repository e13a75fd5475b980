"""Horizontal-flip averaging: a crop and its mirror image, embedded together, their mean vector.

A product photographed the other way round (a shoe pointing left, a bottle turned) then meets its
catalog photo halfway. It doubles the embedding work per crop, so it is a setting
(``embedder.flip_average``) and part of the vectors' name: a catalog must be embedded the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps

from embedder.base import Embedder
from lookalike.types import Vectors

SUFFIX = "+flip"


class FlipAveraged:
    """Any embedder, with each image's vector averaged with its mirror's and normalised again."""

    def __init__(self, base: Embedder) -> None:
        self.base = base
        self.spec = f"{base.spec}{SUFFIX}"
        self.dim = base.dim

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        both = self.base.embed_images([*images, *(ImageOps.mirror(im) for im in images)])
        mean = both[: len(images)] + both[len(images) :]
        return (mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)).astype(np.float32)


__all__ = ["FlipAveraged"]
