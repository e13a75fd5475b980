"""The tuned product embedder: ImageNet MobileNetV2 whose last blocks the project fine-tuned.

``models/product-tuned/tail.pt`` holds the tuned stages only (``embedder.training.backbone``); the
rest is the packaged ImageNet file, so the network is MobileNetV2 exactly, at MobileNetV2's cost.
Exported to ONNX like any torch embedder. The vectors' name holds the file's content hash, so
retrained weights never mix with old vectors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from embedder.preprocess import vector_space
from embedder.torch_embedder import TorchImageEmbedder
from embedder.training.backbone import load_tuned_model
from lookalike.packaged import product_tuned_tail

SPEC = "product_tuned"
DIM = 1280


def tail_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def build_tuned_embedder(
    tail: str | Path | None = None,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    device: str = "auto",
) -> TorchImageEmbedder:
    """``tail`` is a ``tail.pt`` file; None uses the shipped one."""
    path = Path(tail) if tail else product_tuned_tail()
    if not path.is_file():
        raise ValueError(f"tuned product embedder weights {path} do not exist")
    model, _meta = load_tuned_model(path)
    return TorchImageEmbedder(
        model,
        spec=vector_space(f"{SPEC}@tail-{tail_digest(path)}", image_size),
        dim=DIM,
        image_size=image_size,
        batch_size=batch_size,
        device=device,
    )


__all__ = ["SPEC", "build_tuned_embedder", "tail_digest"]
