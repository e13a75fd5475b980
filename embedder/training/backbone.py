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
"""Default first trained stage of ``mobilenet_v2().features`` (v1's); a stored tail names its own
(the shipped one starts at 7: ``tune --from-stage``)."""


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


class RetrievalHead(nn.Module):
    """An instance-retrieval head on the last 1,280-channel map (Radenovic, Tolias, Chum, "Fine-tuning
    CNN image retrieval with no human annotation", TPAMI 2018): generalised-mean pooling with exponent
    ``p`` (1 is average pooling, larger leans towards the strongest activations), then, when a
    whitening is given, the unit vector centred and projected: ``(normalise(gem(x)) - mean) @ proj``.
    Both fold into the exported graph, so the embedder still ends in one vector per crop."""

    p: torch.Tensor
    mean: torch.Tensor
    proj: torch.Tensor

    def __init__(
        self, p: float = 1.0, mean: torch.Tensor | None = None, proj: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        dim = 1280 if mean is None else int(mean.numel())
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("mean", torch.zeros(dim) if mean is None else mean.float().flatten())
        self.register_buffer("proj", torch.eye(dim) if proj is None else proj.float())
        self.whitened = proj is not None

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        x = maps.clamp(min=1e-6).pow(self.p).mean((2, 3)).pow(1.0 / self.p)
        if not self.whitened:
            return x
        out: torch.Tensor = (nn.functional.normalize(x, dim=1) - self.mean) @ self.proj
        return out

    def stored(self) -> dict[str, torch.Tensor]:
        """What ``save_tail`` keeps: p (fp32), mean and projection (fp16) when whitened."""
        out = {"p": self.p.detach().clone()}
        if self.whitened:
            out |= {"mean": self.mean.detach().half(), "proj": self.proj.detach().half()}
        return out


class TunedNet(nn.Module):
    """MobileNetV2's ``features`` then a ``RetrievalHead``: image -> one vector (not normalised)."""

    def __init__(self, features: nn.Module, head: RetrievalHead) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out


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


def save_tail(tail: Tail, path: Path, meta: dict[str, Any], head: RetrievalHead | None = None) -> None:
    """``head``: a retrieval head stored beside the stages (none: average pooling, as trained)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob: dict[str, Any] = {"first_tuned": tail.first_tuned, "state": tail_state(tail), "meta": meta}
    if head is not None:
        blob["head"] = head.stored()
    torch.save(blob, path)


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
    meta = dict(blob.get("meta", {}))
    if "head" not in blob:
        return model.eval(), meta
    stored = blob["head"]
    head = RetrievalHead(float(stored["p"]), stored.get("mean"), stored.get("proj"))
    features = model.features
    if not isinstance(features, nn.Module):
        raise TypeError("MobileNetV2 without features")
    return TunedNet(features, head).eval(), meta


__all__ = [
    "FIRST_TUNED",
    "Prefix",
    "RetrievalHead",
    "Tail",
    "TunedNet",
    "imagenet_mobilenet_v2",
    "load_tuned_model",
    "save_tail",
    "split_mobilenet_v2",
    "tail_state",
]
