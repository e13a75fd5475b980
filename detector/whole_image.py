"""The 'none' detector: the whole image is the one region."""

from __future__ import annotations

from collections.abc import Sequence

from lookalike.types import Box, DecodedImage, Region


class WholeImageDetector:
    """Use when catalog photos hold one product each, or to measure the embedder alone."""

    spec = "none"

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        return [[Region(Box.full(img.width, img.height), None, 1.0)] for img in images]
