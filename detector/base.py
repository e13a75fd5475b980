"""The detector stage's whole interface: images in, product regions out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from lookalike.types import DecodedImage, Region


@runtime_checkable
class Detector(Protocol):
    """Finds product regions. Batched: one list of regions per input image."""

    spec: str

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]: ...
