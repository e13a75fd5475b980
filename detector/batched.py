"""A detector that batches images across concurrent requests before calling the real one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from detector.base import Detector
from lookalike.batching import DynamicBatcher
from lookalike.types import DecodedImage, Region


class BatchedDetector:
    """Same interface as the wrapped detector; one model call serves many requests."""

    def __init__(
        self,
        inner: Detector,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        demand: Callable[[], int] | None = None,
    ) -> None:
        self.inner = inner
        self.spec = inner.spec
        self.batcher: DynamicBatcher[DecodedImage, list[Region]] = DynamicBatcher(
            inner.detect,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            name="detect-batcher",
            demand=demand,
        )

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        return self.batcher.submit(images)
