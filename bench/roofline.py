"""Compute roofline: model FLOPs per request against a matmul peak measured in the same run."""

from __future__ import annotations

import os
import time

import torch

from lookalike.settings import Settings


def matmul_peak_gflops(n: int = 1024, repeats: int = 20) -> float:
    """fp32 GEMM throughput with torch's threads: the machine's practical compute ceiling."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def fresh_matmul_peak_gflops() -> float:
    """``matmul_peak_gflops`` in a fresh interpreter (best of two sizes), away from whatever
    thread pools and imports the harness process has accumulated during the run."""
    import subprocess
    import sys

    from lookalike.execution import ExecutionPolicy

    out = subprocess.run(
        [sys.executable, "-m", "bench.roofline"],
        check=True,
        capture_output=True,
        text=True,
        env=ExecutionPolicy().child_env(os.environ),  # every core, whatever an import left in ours
    ).stdout
    return float(out.strip().splitlines()[-1])


def model_gflops(model: torch.nn.Module, image_size: int | tuple[int, int] = 224) -> float:
    """Forward FLOPs of one image (multiply-add = 2 FLOPs), counted by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.eval()(torch.zeros(1, 3, h, w))
    return counter.get_total_flops() / 1e9


def detector_gflops(settings: Settings, input_shape: tuple[int, int] | None = None) -> float:
    """FLOPs of one detector run at the (height, width) the service feeds it (default: square)."""
    from ultralytics import YOLO

    from bench.naive import notebook_detector

    detector = notebook_detector(settings.detector, "pt")
    weights = detector.spec.split(":", 1)[1]
    if not weights.endswith(".pt"):
        return 0.0  # only a torch checkpoint can be counted
    model: torch.nn.Module = YOLO(weights).model  # type: ignore[assignment]
    return model_gflops(model, image_size=input_shape or detector.imgsz)


if __name__ == "__main__":
    print(max(matmul_peak_gflops(1024, 20), matmul_peak_gflops(2048, 5)))
