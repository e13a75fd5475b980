"""Several embedders' vectors side by side: ``embedder.spec = "concat:SPEC,SPEC"``.

Two ImageNet networks trained differently err differently; a linear projection fitted on both
(``lookalike adapt``) finds more to separate products with than on either. The cost per crop is
the sum of the parts' (MobileNetV2 + EfficientNet-Lite2: about 4x MobileNetV2 alone), so it is
meant for catalogs that are adapted, where it pays (docs/EMBEDDER.md). Each part is a unit vector
and counts equally; the whole is a unit vector. The name lists the parts' names in order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from embedder.base import Embedder
from lookalike.types import Vectors

PREFIX = "concat:"


def parse_concat(spec: str) -> list[str] | None:
    """The part specs of a ``concat:A,B`` spec (None for any other spec); a clear error when empty."""
    if not spec.strip().lower().startswith(PREFIX):
        return None
    parts = [p.strip() for p in spec.strip()[len(PREFIX) :].split(",") if p.strip()]
    if len(parts) < 2:
        raise ValueError(f"{spec!r}: concat needs at least two embedder specs, e.g. concat:A,B")
    return parts


class Concatenated:
    """The parts' unit vectors, concatenated and scaled to unit length (each part counts equally)."""

    def __init__(self, parts: Sequence[Embedder]) -> None:
        self.parts = list(parts)
        self.spec = "concat(" + ",".join(p.spec for p in self.parts) + ")"
        self.dim = sum(p.dim for p in self.parts)

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = []
        for part in self.parts:
            v = np.asarray(part.embed_images(images), dtype=np.float32)
            vecs.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))
        return (np.concatenate(vecs, axis=1) / np.sqrt(len(vecs))).astype(np.float32)


__all__ = ["PREFIX", "Concatenated", "parse_concat"]
