"""An ONNX image model run by ONNX Runtime (CUDA/TensorRT providers when present) or OpenVINO."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from embedder.preprocess import IMAGENET_MEAN, IMAGENET_STD, precision_space, to_array, vector_space
from embedder.torch_embedder import l2_normalise
from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeRequest
from lookalike.onnx_sessions import open_session
from lookalike.types import Vectors


class OnnxImageEmbedder:
    """Input: float32 NCHW normalised with ImageNet statistics; output: (n, dim) features."""

    def __init__(
        self,
        path: str | Path,
        *,
        image_size: int = 224,
        batch_size: int = 32,
        threads: int = 0,
        spec: str | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        execution: ExecutionPolicy | None = None,
        runtime: RuntimeRequest | None = None,
    ) -> None:
        self._mean, self._std = mean, std
        self.execution = execution or ExecutionPolicy()
        self._session: Any = open_session(path, threads, self.execution, runtime)
        self.runtime_choice = self._session.choice
        self._input = self._session.get_inputs()[0].name
        self.image_size = image_size
        self.batch_size = batch_size
        base = spec or vector_space(f"onnx:{Path(path).name}", image_size)
        self.spec = precision_space(base, self.runtime_choice.precision)
        cores = self.execution.cores
        self._pool = ThreadPoolExecutor(cores, thread_name_prefix="crop-resize") if cores > 1 else None
        self.dim = int(self._run(np.zeros((1, 3, image_size, image_size), np.float32)).shape[1])

    def _splits(self, crops: int) -> bool:
        """Whether a lone request's crops run as two halves at once, each on one core (the
        narrow sessions), instead of one run over every core: an even count on two cores, where
        the halves are equal. One run over both cores gives up some speed to the threads' hand-
        offs inside each operator; two halves side by side do not (``bench.embed_split``)."""
        narrow = getattr(self._session, "narrow", None)
        return (
            self.execution.cores == 2
            and narrow is not None
            and narrow is not getattr(self._session, "wide", None)  # a GPU session has no narrow one
            and crops % 2 == 0
            and crops <= self.batch_size
            and self.execution.alone()
        )

    def _run(self, batch: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._session.run(None, {self._input: batch})[0]
        return out.reshape(out.shape[0], -1)

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Alone, a request's crops are resized on every core (2.5 crops: ~0.8 ms less); beside
        # other model runs the cores are taken and a hand-off would only add latency.
        pool = self._pool if len(images) > 1 and self.execution.models_running() == 0 else None
        mapper = pool.map if pool is not None else map
        if pool is not None and self._splits(len(images)):
            batch = to_array(images, self.image_size, self._mean, self._std, mapper)
            half = len(images) // 2
            with self.execution.side_by_side():
                parts = list(pool.map(self._run, (batch[:half], batch[half:])))
            return l2_normalise(np.concatenate(parts))
        parts = [
            self._run(
                to_array(images[i : i + self.batch_size], self.image_size, self._mean, self._std, mapper)
            )
            for i in range(0, len(images), self.batch_size)
        ]
        return l2_normalise(np.concatenate(parts))
