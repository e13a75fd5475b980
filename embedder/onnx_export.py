"""Export a torch image embedder to ONNX once, cached by a hash of the model's weights.

On the CPU, ONNX Runtime runs the same MobileNetV2 several times faster than eager torch.
The ONNX file keeps the torch embedder's spec: vectors agree to ~1e-4, so indexes built
by either runtime stay valid.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from embedder.torch_embedder import TorchImageEmbedder

EXPORT_FORMAT_VERSION = "1"


def model_hash(embedder: TorchImageEmbedder) -> str:
    """Hash of the architecture's parameters and buffers, the input size and the export format."""
    h = hashlib.sha256(f"{embedder.spec}|{embedder.image_size}|{EXPORT_FORMAT_VERSION}".encode())
    for name, tensor in embedder.model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_onnx(embedder: TorchImageEmbedder, cache_dir: Path) -> Path:
    """Return the cached ONNX file for this model, exporting it first if needed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"embedder-{model_hash(embedder)[:16]}.onnx"
    if path.is_file():
        return path
    model = embedder.model.to("cpu").eval()
    dummy = torch.zeros(1, 3, embedder.image_size, embedder.image_size)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=cache_dir)
    os.close(fd)
    try:
        torch.onnx.export(
            model,
            (dummy,),
            tmp,
            input_names=["input"],
            output_names=["features"],
            dynamic_axes={"input": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        os.replace(tmp, path)  # atomic: concurrent workers never see a half-written file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
