"""torchvision backbones with a local weights file, used as global-feature embedders."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision

from embedder.preprocess import vector_space
from embedder.torch_embedder import TorchImageEmbedder
from lookalike.packaged import mobilenet_v2_imagenet

# Archs whose ImageNet weights ship in a registry package, so they load offline by default.
PACKAGED_WEIGHTS = {"mobilenet_v2": mobilenet_v2_imagenet}


def _strip_head(model: torch.nn.Module) -> torch.nn.Module:
    """Replace the classification head by identity so forward() returns pooled features."""
    for name in ("classifier", "fc", "head", "heads"):
        if hasattr(model, name):
            setattr(model, name, torch.nn.Identity())
            return model
    raise ValueError(f"do not know how to remove the head of {type(model).__name__}")


def build_torchvision_embedder(
    arch: str,
    weights: str | Path | None,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    device: str = "auto",
) -> TorchImageEmbedder:
    """``weights`` is a state-dict file; None uses the packaged file for the arch, if any."""
    if weights is None:
        if arch not in PACKAGED_WEIGHTS:
            raise ValueError(
                f"no packaged weights for torchvision:{arch}; give a file: torchvision:{arch}@/path/to.pth"
            )
        weights = PACKAGED_WEIGHTS[arch]()
    model = torchvision.models.get_model(arch, weights=None)
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model = _strip_head(model)
    with torch.inference_mode():
        dim = int(model.eval()(torch.zeros(1, 3, image_size, image_size)).shape[1])
    return TorchImageEmbedder(
        model,
        spec=vector_space(f"torchvision:{arch}@{Path(weights).name}", image_size),
        dim=dim,
        image_size=image_size,
        batch_size=batch_size,
        device=device,
    )
