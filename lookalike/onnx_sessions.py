"""ONNX Runtime sessions as every stage here wants them: best provider, no spinning threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def available_providers() -> list[str]:
    """Prefer TensorRT, then CUDA, then the CPU, among what this onnxruntime build offers."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    order = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in order if p in have]


def open_session(path: str | Path, threads: int = 0) -> Any:
    """An InferenceSession with ``threads`` intra-op threads (0 = all cores), sequential ops.

    Spinning worker threads burn the cores that other requests (and processes) need: on a
    shared 2-core machine one image took 6x longer with spinning on.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=available_providers())
