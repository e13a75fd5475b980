"""Is there a GPU for the models? Decides run-time policies that differ between CPU and GPU."""

from __future__ import annotations

from functools import cache


@cache
def gpu_present() -> bool:
    """True when torch sees CUDA or ONNX Runtime's best provider is not the CPU one."""
    import torch

    from lookalike.onnx_sessions import available_providers

    return bool(torch.cuda.is_available() or available_providers()[0] != "CPUExecutionProvider")
