"""Any torch image model whose forward returns a feature vector, batched, on CPU or CUDA."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from embedder.device import resolve_device
from embedder.preprocess import IMAGENET_MEAN, IMAGENET_STD, to_batch
from lookalike.types import Vectors


def l2_normalise(x: np.ndarray) -> Vectors:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class TorchImageEmbedder:
    """Wraps a feature model; uses fp16 autocast on CUDA, fp32 on the CPU."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        spec: str,
        dim: int,
        image_size: int = 224,
        batch_size: int = 32,
        device: str = "auto",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        batch_fn: Callable[[Sequence[Image.Image]], torch.Tensor] | None = None,
    ) -> None:
        self.spec = spec
        self.dim = dim
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self._model = model.eval().to(self.device)
        self._mean, self._std = mean, std
        self._batch_fn = batch_fn

    @property
    def model(self) -> torch.nn.Module:
        return self._model

    @property
    def mean(self) -> Sequence[float]:
        return self._mean

    @property
    def std(self) -> Sequence[float]:
        return self._std

    @property
    def exportable(self) -> bool:
        """ONNX export keeps vectors only when preprocessing is the standard resize + mean/std."""
        return self._batch_fn is None

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        if self._batch_fn is not None:
            return self._batch_fn(images)
        return to_batch(images, self.image_size, self._mean, self._std)

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            batch = self.preprocess(images[start : start + self.batch_size]).to(self.device)
            if self.device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.float16):
                    feats = self._model(batch)
            else:
                feats = self._model(batch)
            out.append(feats.float().cpu().numpy())
        return l2_normalise(np.concatenate(out))
