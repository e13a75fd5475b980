"""The product embedder: the packaged ImageNet MobileNetV2 plus the head the project trained.

The head (``models/product-embedder/head.pt``, ``embedder.training``) was trained to match another
photo of the same product (a store photo to the catalog's web photo, a screenshot's view to the
original). Backbone and head form one torch module, so the ONNX export and every runtime carry both.
The vectors' name holds the head's content hash: retrained weights never mix with old vectors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from embedder.preprocess import vector_space
from embedder.torch_embedder import TorchImageEmbedder
from embedder.torchvision_models import build_torchvision_embedder
from embedder.training.head import load_head
from lookalike.packaged import product_embedder_head

SPEC = "product"


def head_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def build_product_embedder(
    head: str | Path | None = None,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    device: str = "auto",
) -> TorchImageEmbedder:
    """``head`` is a ``head.pt`` file; None uses the shipped one."""
    path = Path(head) if head else product_embedder_head()
    if not path.is_file():
        raise ValueError(f"product embedder head {path} does not exist")
    base = build_torchvision_embedder("mobilenet_v2", None, image_size=image_size, batch_size=1, device="cpu")
    trained, _meta = load_head(path)
    if trained.dim != base.dim:
        raise ValueError(f"{path}: the head takes {trained.dim}-d vectors, the backbone makes {base.dim}-d")
    model = torch.nn.Sequential(base.model, trained).eval()
    return TorchImageEmbedder(
        model,
        spec=vector_space(f"{SPEC}@head-{head_digest(path)}", image_size),
        dim=base.dim,
        image_size=image_size,
        batch_size=batch_size,
        device=device,
    )


__all__ = ["SPEC", "build_product_embedder", "head_digest"]
