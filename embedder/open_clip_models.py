"""OpenCLIP image and text towers: a model name plus a pretrained tag (hub) or a local file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from embedder.device import resolve_device
from embedder.preprocess import trim_to_aspect
from embedder.torch_embedder import l2_normalise
from lookalike.types import Vectors


class OpenClipEmbedder:
    """Image and text in one space. ``pretrained`` is an open_clip tag (downloads from the hub
    where one is reachable), a local checkpoint path, or None (random init: plumbing only)."""

    def __init__(
        self,
        model_name: str,
        pretrained: str | None,
        *,
        batch_size: int = 32,
        device: str = "auto",
    ) -> None:
        import open_clip

        self.device = resolve_device(device)
        model, _, preprocess = open_clip.create_model_and_transforms(
            model_name, pretrained=pretrained, device=self.device
        )
        self._model: Any = model.eval()
        self._preprocess = preprocess
        self._tokenizer = open_clip.get_tokenizer(model_name)
        self.batch_size = batch_size
        self.spec = f"open_clip:{model_name}@{pretrained or 'random-init'}"
        with torch.inference_mode():
            probe = self._model.encode_image(torch.zeros(1, 3, *self._image_size(), device=self.device))
        self.dim = int(probe.shape[1])

    def _image_size(self) -> tuple[int, int]:
        size = self._model.visual.image_size
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack(
                [
                    self._preprocess(trim_to_aspect(im).convert("RGB"))
                    for im in images[start : start + self.batch_size]
                ]
            )
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.device.type == "cuda"):
                feats = self._model.encode_image(batch.to(self.device))
            out.append(feats.float().cpu().numpy())
        return l2_normalise(np.concatenate(out))

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(list(texts)).to(self.device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.device.type == "cuda"):
            feats = self._model.encode_text(tokens)
        return l2_normalise(feats.float().cpu().numpy())
