"""Compute roofline: model FLOPs per request against a matmul peak measured in the same run.

A model run in bf16 or int8 is held against the GEMM peak of its own precision, not fp32's
(``gemm_peaks_gflops``: OpenVINO's CPU plugin, the engine that runs those precisions, on one
square matrix product each, with the run's thread count); reports give both ceilings.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
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


def _gemm_model(n: int, int8: bool) -> Any:
    """x (n, n) @ w (n, n); with ``int8`` both sides pass a FakeQuantize (u8 activations, i8
    weights), which OpenVINO's low-precision pass turns into an integer matrix product."""
    import openvino as ov
    from openvino import opset13 as ops

    x = ops.parameter([n, n], np.float32, name="x")
    w: Any = ops.constant(np.random.default_rng(0).uniform(-1, 1, (n, n)).astype(np.float32))
    a: Any = x
    if int8:

        def c(v: float) -> Any:
            return ops.constant(np.float32(v))

        a = ops.fake_quantize(x, c(0), c(1), c(0), c(1), 256)
        w = ops.fake_quantize(w, c(-1), c(1), c(-1), c(1), 255)
    return ov.Model([ops.matmul(a, w, False, False)], [x])


def gemm_peaks_gflops(threads: int, n: int = 1024, repeats: int = 15) -> dict[str, Any]:
    """GEMM GFLOP/s per precision in OpenVINO (fp32, bf16 where the CPU has it, int8), each the
    best of ``repeats`` products interleaved, with the precision OpenVINO really ran each in."""
    import openvino as ov

    from lookalike.cpu_features import this_cpu

    core = ov.Core()
    kinds = {"fp32": (False, "f32"), "int8": (True, "f32")}
    if this_cpu().native_bf16:
        kinds["bf16"] = (False, "bf16")
    runs: dict[str, Any] = {}
    ran_in: dict[str, str] = {}
    for name, (int8, hint) in kinds.items():
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": hint,
            "PERFORMANCE_HINT": "LATENCY",
        }
        compiled = core.compile_model(_gemm_model(n, int8), "CPU", config)
        ran_in[name] = ",".join(
            str(op.get_rt_info()["runtimePrecision"].astype(str))
            for op in compiled.get_runtime_model().get_ops()
            if str(op.get_rt_info()["layerType"].astype(str)) in ("MatMul", "FullyConnected")
        )
        runs[name] = compiled.create_infer_request()
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    best = dict.fromkeys(runs, float("inf"))
    for request in runs.values():
        request.infer({0: a})
    for _ in range(repeats):
        for name, request in runs.items():
            start = time.perf_counter()
            request.infer({0: a})
            best[name] = min(best[name], time.perf_counter() - start)
    peaks: dict[str, Any] = {name: round(2 * n**3 / t / 1e9, 1) for name, t in best.items()}
    peaks["ran_in"] = ran_in
    return peaks


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
    import sys

    if sys.argv[1:2] == ["--precisions"]:  # python -m bench.roofline --precisions [threads]
        import json

        print(json.dumps(gemm_peaks_gflops(int(sys.argv[2]) if len(sys.argv) > 2 else 2)))
    else:
        print(max(matmul_peak_gflops(1024, 20), matmul_peak_gflops(2048, 5)))
