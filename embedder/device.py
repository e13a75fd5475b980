"""Pick the compute device at run time: CUDA (with fp16) when present, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def configure_cpu_threads(threads: int) -> None:
    """0 keeps torch's default (all cores)."""
    if threads > 0:
        torch.set_num_threads(threads)
