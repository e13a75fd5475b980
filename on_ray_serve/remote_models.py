"""The ingress's detector and embedder: proxies that call the model deployments through handles.

They satisfy ``detector.Detector`` and ``embedder.Embedder``, so ``SearchService`` runs unchanged,
and carry the replica's ``runtime_choice``, so /readyz says what the models run in;
``ServeRuntime`` is a ``Runtime`` whose models are these proxies. A call blocks its search thread
(never the event loop: the API runs searches in worker threads) until the deployment answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from detector import Detector
from embedder import Embedder
from lookalike.errors import NotReadyError
from lookalike.model_runtime import RuntimeChoice
from lookalike.types import DecodedImage, Region, Vectors
from service.runtime import Runtime


def _call(handle: Any, method: str, *args: Any) -> Any:
    """One handle call; a replica that died or a deployment that sheds load is a 503, not a 500."""
    from ray.exceptions import RayActorError
    from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError

    try:
        return getattr(handle, method).remote(*args).result()
    except (RayActorError, BackPressureError, DeploymentUnavailableError, ReplicaUnavailableError) as exc:
        raise NotReadyError(f"the model deployment is unavailable ({type(exc).__name__}); retry") from exc


class RemoteDetector:
    """``Detector`` over the detector deployment: one handle call per search."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        described = _call(handle, "describe")
        self.spec: str = described["spec"]
        self.runtime_choice: RuntimeChoice | None = described["runtime_choice"]

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        if not images:
            return []
        found: list[list[Region]] = _call(self.handle, "detect", list(images))
        return found


class RemoteEmbedder:
    """``Embedder`` over the embedder deployment: a search's crops travel as one call."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        described = _call(handle, "describe")
        self.spec: str = described["spec"]
        self.dim: int = described["dim"]
        self.runtime_choice: RuntimeChoice | None = described["runtime_choice"]

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors: Vectors = _call(self.handle, "embed", list(images))
        return vectors


@dataclass
class ServeRuntime(Runtime):
    """A serving ``Runtime`` whose detector and embedder are the model deployments' proxies."""

    detector_handle: Any = None
    embedder_handle: Any = None

    @cached_property
    def detector(self) -> Detector:
        return RemoteDetector(self.detector_handle)

    @cached_property
    def embedder(self) -> Embedder:
        return RemoteEmbedder(self.embedder_handle)
