"""Triton Inference Server: the model repository lookalike generates, and a local server to test it.

``write_repository(settings, out, options)`` exports the configured detector and embedder and
writes a Triton repository (``config.pbtxt`` per model, dynamic batching, instance groups, the
ONNX Runtime backend with its TensorRT accelerator on a GPU, or TensorRT plans) plus a Python
(BLS) ``pipeline`` model that turns screenshot bytes into regions and vectors in one call.
The clients that call such a server are ``detector/triton.py`` and ``embedder/triton.py``.
"""

from __future__ import annotations

from triton_repo.configs import ModelConfig, Scheduling, TensorSpec
from triton_repo.server import LocalTritonServer, TritonServerError
from triton_repo.writer import DETECTOR, EMBEDDER, PIPELINE, Repository, RepositoryOptions, write_repository

__all__ = [
    "DETECTOR",
    "EMBEDDER",
    "PIPELINE",
    "LocalTritonServer",
    "ModelConfig",
    "Repository",
    "RepositoryOptions",
    "Scheduling",
    "TensorSpec",
    "TritonServerError",
    "write_repository",
]
