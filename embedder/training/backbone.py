"""The tuned product embedder's network: ImageNet MobileNetV2 with its last blocks fine-tuned.

MobileNetV2's ``features`` are 19 stages; the first ``FIRST_TUNED`` (the 224 px input down to
96 x 14 x 14) stay the packaged ImageNet weights, frozen; stages ``FIRST_TUNED`` to 18 (four
inverted-residual blocks at 7 x 7 and the 1 x 1 convolution to 1,280 channels) are trained for
instance retrieval. Only the tuned stages are stored (``save_tail``: fp16, about 3.5 MB), so the
file is small enough for git and every other weight provably comes from the packaged file.
Batch-norm statistics are never updated (the tail trains in eval mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from lookalike.packaged import mobilenet_v2_imagenet

FIRST_TUNED = 14
"""Index of the first trained stage of ``mobilenet_v2().features``."""


def imagenet_mobilenet_v2() -> nn.Module:
    """The packaged ImageNet MobileNetV2 with its classifier removed: image -> 1,280-d pooled features."""
    model = torchvision.models.mobilenet_v2(weights=None)
    state = torch.load(str(mobilenet_v2_imagenet()), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.classifier = nn.Identity()
    return model.eval()


def _stages(model: nn.Module) -> list[nn.Module]:
    features = model.features
    if not isinstance(features, nn.Sequential):
        raise TypeError(f"{type(model).__name__} has no sequential features")
    return list(features)


class Prefix(nn.Module):
    """The frozen stages: image batch -> 96 x 14 x 14 maps (at 224 px)."""

    def __init__(self, model: nn.Module, first_tuned: int = FIRST_TUNED) -> None:
        super().__init__()
        self.stages = nn.Sequential(*_stages(model)[:first_tuned])
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.stages(x)
        return out


class Tail(nn.Module):
    """The tuned stages: prefix maps -> 1,280-d pooled features (not normalised)."""

    def __init__(self, model: nn.Module, first_tuned: int = FIRST_TUNED) -> None:
        super().__init__()
        self.first_tuned = first_tuned
        self.stages = nn.Sequential(*_stages(model)[first_tuned:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        return nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)


def split_mobilenet_v2(first_tuned: int = FIRST_TUNED) -> tuple[Prefix, Tail]:
    """(frozen prefix, trainable tail) of the packaged ImageNet MobileNetV2."""
    model = imagenet_mobilenet_v2()
    return Prefix(model, first_tuned), Tail(model, first_tuned)


def tail_state(tail: Tail) -> dict[str, torch.Tensor]:
    """The tail's weights under the full model's names (``features.14.conv.0.0.weight``, ...), fp16."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tail.stages.state_dict().items():
        index, _, rest = name.partition(".")
        key = f"features.{int(index) + tail.first_tuned}.{rest}"
        out[key] = tensor.detach().cpu().half() if tensor.is_floating_point() else tensor.detach().cpu()
    return out


def save_tail(tail: Tail, path: Path, meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"first_tuned": tail.first_tuned, "state": tail_state(tail), "meta": meta}, path)


def load_tuned_model(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The packaged MobileNetV2 with the stored tail in place: image -> 1,280-d pooled features."""
    blob = torch.load(str(path), map_location="cpu", weights_only=True)
    model = imagenet_mobilenet_v2()
    first = int(blob["first_tuned"])
    expected = {k for k in model.state_dict() if k.startswith("features.") and int(k.split(".")[1]) >= first}
    state = {k: v.float() if v.is_floating_point() else v for k, v in blob["state"].items()}
    if set(state) != expected:
        raise ValueError(f"{path}: not a tail of MobileNetV2 from stage {first}")
    model.load_state_dict(state, strict=False)
    return model.eval(), dict(blob.get("meta", {}))


__all__ = [
    "FIRST_TUNED",
    "Prefix",
    "Tail",
    "imagenet_mobilenet_v2",
    "load_tuned_model",
    "save_tail",
    "split_mobilenet_v2",
    "tail_state",
]
