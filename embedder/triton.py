"""The embedder served by Triton: crops are resized and normalised here, the network runs there.

Its vector space names the served model and its version (``<spec>|triton:<model>/v<N>``), so an
index built through one server's model is never searched with another's vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from embedder.preprocess import to_array
from embedder.torch_embedder import l2_normalise
from lookalike.triton_client import TritonEndpoint, TritonModel
from lookalike.types import Vectors


class TritonEmbedder:
    def __init__(self, spec: str, *, batch_size: int = 32, model: TritonModel | None = None) -> None:
        self.model = model or TritonModel(TritonEndpoint.parse(spec))
        p = self.model.parameters
        self.source_spec = p.get("lookalike_spec", "")
        e = self.model.endpoint
        self.spec = f"{self.source_spec}|triton:{e.model}/v{self.model.version}"
        self.image_size = int(p.get("image_size", 224))
        self.dim = int(p.get("dim", 0))
        self._input = p.get("input_name", "input")
        self._output = p.get("output_name", "features")
        self.batch_size = min(batch_size, self.model.max_batch_size or batch_size)

    def ready(self) -> str:
        return self.model.ready()

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        parts = []
        for start in range(0, len(images), self.batch_size):
            x = to_array(images[start : start + self.batch_size], self.image_size)
            out = self.model.infer({self._input: x}, [self._output])[self._output]
            parts.append(out.reshape(out.shape[0], -1))
        if not parts:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(np.concatenate(parts))
