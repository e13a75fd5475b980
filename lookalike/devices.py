"""Is there a GPU for the models? Decides run-time policies that differ between CPU and GPU."""

from __future__ import annotations

from functools import cache


@cache
def gpu_present() -> bool:
    """True when torch sees CUDA or ONNX Runtime offers its CUDA or TensorRT provider."""
    import onnxruntime as ort
    import torch

    accelerated = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}
    return bool(torch.cuda.is_available() or accelerated & set(ort.get_available_providers()))
