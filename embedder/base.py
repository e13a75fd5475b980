"""The embedder stage's whole interface: crops (or text) in, L2-normalised vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from PIL import Image

from lookalike.types import Vectors


@runtime_checkable
class Embedder(Protocol):
    """Batched: ``embed_images`` returns one (n, dim) float32 row per input, unit length."""

    spec: str
    dim: int

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors: ...


@runtime_checkable
class TextEmbedder(Embedder, Protocol):
    """An embedder with a text tower in the same space (CLIP-like)."""

    def embed_texts(self, texts: Sequence[str]) -> Vectors: ...
