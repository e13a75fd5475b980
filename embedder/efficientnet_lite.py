"""EfficientNet-Lite0 and -Lite2 features from the packaged ImageNet weights (offline, no timm download).

The packaged file is a lukemelas-style state dict (``_conv_stem``, ``_blocks.N._depthwise_conv``,
``_fc``...). timm's ``efficientnet_lite0`` has the same layers in the same order under other
names, so the keys are mapped by position and checked by shape. The weights come from the
TensorFlow Lite models, which expect inputs scaled to [-1, 1] (mean 0.5, std 0.5): fed ImageNet
mean/std inputs instead, top-1 on grocery store photos of ImageNet classes drops from 71% to 54%.
The model therefore starts with a fixed per-channel affine layer that turns the ImageNet-normalised
batches every embedder (torch or ONNX Runtime) produces into that [-1, 1] scaling, so the
conversion travels inside the model and its ONNX export.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import timm
import torch

from embedder.preprocess import IMAGENET_MEAN, IMAGENET_STD, STANDARD_SIZE, vector_space
from embedder.torch_embedder import TorchImageEmbedder
from lookalike.packaged import efficientnet_lite0_imagenet, efficientnet_lite2_imagenet

SPEC = "efficientnet_lite0"
LITE2_SPEC = "efficientnet_lite2"
LITE2_SIZE = 260
"""Lite2's own input size: at the standard 224 px setting it runs at 260."""
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)
HEAD_KEYS = ("_fc.weight", "_fc.bias")


class ImageNetToLiteInput(torch.nn.Module):
    """x_imagenet = (x - mean) / std  ->  x_lite = (x - 0.5) / 0.5, per channel."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        lite_mean = torch.tensor(LITE_MEAN).view(1, 3, 1, 1)
        lite_std = torch.tensor(LITE_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", std / lite_std)
        self.register_buffer("shift", (mean - lite_mean) / lite_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


def map_lite0_state_dict(
    packaged: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename packaged keys onto ``target``'s by position; refuse any count or shape mismatch
    (the same mapping holds for every Lite variant: same layer order, other widths and depths)."""
    source = [(k, v) for k, v in packaged.items() if k not in HEAD_KEYS]
    names = [k for k in target if not k.startswith("classifier.")]
    if len(source) != len(names):
        raise ValueError(
            f"EfficientNet-Lite weights have {len(source)} tensors, the model wants {len(names)}"
        )
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (src_key, tensor), name in zip(source, names, strict=True):
        if tuple(tensor.shape) != tuple(target[name].shape):
            raise ValueError(
                f"{src_key} {tuple(tensor.shape)} does not fit {name} {tuple(target[name].shape)}"
            )
        mapped[name] = tensor
    return mapped


def build_lite0_classifier(weights: str | Path | None = None) -> torch.nn.Module:
    """The full classifier (ImageNet-normalised input, 1000 logits), to check the weights are pretrained."""
    state = torch.load(str(weights or efficientnet_lite0_imagenet()), map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    body = map_lite0_state_dict(state, model.state_dict())
    body["classifier.weight"], body["classifier.bias"] = state["_fc.weight"], state["_fc.bias"]
    model.load_state_dict(body)
    return torch.nn.Sequential(ImageNetToLiteInput(), model).eval()


def build_efficientnet_lite0_embedder(
    weights: str | Path | None = None,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    device: str = "auto",
) -> TorchImageEmbedder:
    """1280-d global-average-pooled features, head removed; ``weights`` defaults to the packaged file."""
    path = Path(weights) if weights is not None else efficientnet_lite0_imagenet()
    return _lite_embedder(SPEC, path, image_size=image_size, batch_size=batch_size, device=device)


def build_efficientnet_lite2_embedder(
    weights: str | Path | None = None,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    device: str = "auto",
) -> TorchImageEmbedder:
    """EfficientNet-Lite2 (ImageNet top-1 77.6% vs MobileNetV2's 72.0%; about 3x its cost per crop),
    1280-d. At the standard ``image_size`` (224) it runs at its own 260 px, and the vectors' name
    says so; any other size is taken as given."""
    path = Path(weights) if weights is not None else efficientnet_lite2_imagenet()
    size = LITE2_SIZE if image_size == STANDARD_SIZE else image_size
    return _lite_embedder(LITE2_SPEC, path, image_size=size, batch_size=batch_size, device=device)


def _lite_embedder(
    arch: str, path: Path, *, image_size: int, batch_size: int, device: str
) -> TorchImageEmbedder:
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    model = timm.create_model(arch, pretrained=False, num_classes=0)
    model.load_state_dict(map_lite0_state_dict(state, model.state_dict()))
    model = torch.nn.Sequential(ImageNetToLiteInput(), model)
    with torch.inference_mode():
        dim = int(model.eval()(torch.zeros(1, 3, image_size, image_size)).shape[1])
    return TorchImageEmbedder(
        model,
        spec=vector_space(f"{arch}@{path.name}", image_size),
        dim=dim,
        image_size=image_size,
        batch_size=batch_size,
        device=device,
    )


__all__ = [
    "LITE2_SPEC",
    "SPEC",
    "ImageNetToLiteInput",
    "build_efficientnet_lite0_embedder",
    "build_efficientnet_lite2_embedder",
    "build_lite0_classifier",
    "map_lite0_state_dict",
]
