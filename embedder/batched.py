"""An embedder that batches crops across concurrent requests before calling the real one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from embedder.base import Embedder
from lookalike.batching import DynamicBatcher
from lookalike.types import Vectors


class BatchedEmbedder:
    """Same interface as the wrapped embedder; one model call serves many requests."""

    def __init__(
        self,
        inner: Embedder,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        demand: Callable[[], int] | None = None,
    ) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.dim = inner.dim
        self.batcher: DynamicBatcher[Image.Image, np.ndarray] = DynamicBatcher(
            self._embed_rows,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            name="embed-batcher",
            demand=demand,
        )

    def _embed_rows(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        return list(self.inner.embed_images(images))

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(self.batcher.submit(images)).astype(np.float32)
