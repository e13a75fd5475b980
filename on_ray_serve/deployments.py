"""The three deployments, and the application ``settings.ray.serve`` describes.

``API`` is the FastAPI app of ``lookalike serve`` (decode, FAISS search, catalog rows:
the search and metadata step); it reaches ``DETECTOR`` and ``EMBEDDER`` through handles. Each model
replica loads its model once and answers ``@serve.batch`` calls: concurrent requests' images go
through one model run, the gain a GPU replica is for (on a CPU a batch costs the same per image).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from lookalike.execution import ExecutionPolicy
from lookalike.settings import RayServeSettings, ServeDeploymentSettings, Settings
from lookalike.types import DecodedImage, Region, Vectors

if TYPE_CHECKING:
    from fastapi import FastAPI

# A model replica imports only its model's package; the API replica imports the app and the
# service when it builds them (each import costs seconds of a replica's start on a busy machine).

APP_NAME = "lookalike"
GPU_SHARE = 0.5
"""A model replica's GPU share on a cluster with GPUs (``num_gpus`` unset): the detector and the
embedder fit on one GPU together."""


def _execution(settings: Settings) -> ExecutionPolicy:
    """The replica's model uses ``model_threads`` cores (0: the node's), as one server process would."""
    return ExecutionPolicy(settings.ray.serve.model_threads or None)


def _configure_batches(handler: Any, settings: RayServeSettings) -> None:
    handler.set_max_batch_size(settings.max_batch_size)
    handler.set_batch_wait_timeout_s(settings.batch_wait_ms / 1000.0)


def _runtime_choice(model: object) -> object:
    """What the model runs in (engine, precision, why), for the API's /readyz; None: no ONNX model."""
    return getattr(getattr(model, "inner", model), "runtime_choice", None)


def _split(rows: list[Any], counts: list[int]) -> list[list[Any]]:
    out, start = [], 0
    for count in counts:
        out.append(rows[start : start + count])
        start += count
    return out


class DetectorReplica:
    """One detector per replica; ``detect`` takes one search's images, batched across searches."""

    def __init__(self, settings: Settings) -> None:
        from detector import load_detector

        self.detector = load_detector(
            settings.detector, execution=_execution(settings), export_dir=settings.onnx_dir
        )
        _configure_batches(self.detect, settings.ray.serve)

    def describe(self) -> dict[str, Any]:
        return {"spec": self.detector.spec, "runtime_choice": _runtime_choice(self.detector)}

    @serve.batch
    async def detect(self, requests: list[list[DecodedImage]]) -> list[list[list[Region]]]:
        images = [image for request in requests for image in request]
        found = await asyncio.to_thread(self.detector.detect, images)
        return _split(found, [len(request) for request in requests])


class EmbedderReplica:
    """One embedder per replica; ``embed`` takes one search's crops, batched across searches."""

    def __init__(self, settings: Settings) -> None:
        from embedder import load_embedder

        self.embedder = load_embedder(settings.embedder, settings.onnx_dir, execution=_execution(settings))
        _configure_batches(self.embed, settings.ray.serve)

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.embedder.spec,
            "dim": self.embedder.dim,
            "runtime_choice": _runtime_choice(self.embedder),
        }

    @serve.batch
    async def embed(self, requests: list[list[Image.Image]]) -> list[Vectors]:
        images = [image for request in requests for image in request]
        vectors = await asyncio.to_thread(self.embedder.embed_images, images)
        bounds = np.cumsum([len(request) for request in requests])[:-1]
        return list(np.split(vectors, bounds))


class ApiReplica:
    """The API: ``api.app.create_app`` over a runtime whose models are the deployments above."""

    def __init__(self, settings: Settings, detector: DeploymentHandle, embedder: DeploymentHandle) -> None:
        self.settings, self.detector, self.embedder = settings, detector, embedder

    def __serve_build_asgi_app__(self) -> FastAPI:
        from api.app import create_app
        from on_ray_serve.remote_models import ServeRuntime

        runtime = ServeRuntime(
            self.settings, serving=True, detector_handle=self.detector, embedder_handle=self.embedder
        )
        return create_app(self.settings, runtime=runtime)


DETECTOR = serve.deployment(name="detector")(DetectorReplica)
EMBEDDER = serve.deployment(name="embedder")(EmbedderReplica)
API = serve.deployment(name="api")(serve.ingress()(ApiReplica))
"""The search and metadata step: HTTP through the same app, decode, FAISS, catalog rows."""


def _options(replicas: ServeDeploymentSettings, gpus: float, max_ongoing: int) -> dict[str, Any]:
    scaling: dict[str, Any] = (
        {"num_replicas": replicas.min_replicas}
        if replicas.min_replicas == replicas.max_replicas
        else {
            "autoscaling_config": {
                "min_replicas": replicas.min_replicas,
                "max_replicas": replicas.max_replicas,
                "target_ongoing_requests": replicas.target_ongoing_requests,
            }
        }
    )
    return {
        **scaling,
        "max_ongoing_requests": max_ongoing,
        "ray_actor_options": {"num_cpus": replicas.num_cpus, "num_gpus": gpus},
    }


def _model_gpus(replicas: ServeDeploymentSettings, cluster_gpus: float, runs_a_model: bool = True) -> float:
    if replicas.num_gpus is not None:
        return replicas.num_gpus
    return GPU_SHARE if cluster_gpus > 0 and runs_a_model else 0.0


def deployment_options(settings: Settings, cluster_gpus: float = 0.0) -> dict[str, dict[str, Any]]:
    """Each deployment's ``.options(...)``: replicas or autoscaling, CPUs, GPUs, requests in flight."""
    s = settings.ray.serve
    model_queue = 2 * s.max_batch_size  # a batch forms while the previous one runs
    detector_gpus = _model_gpus(s.detector, cluster_gpus, runs_a_model=settings.detector.spec != "none")
    return {
        # The API admits api.max_in_flight searches per process and answers 429 past them: let them in.
        "api": _options(s.ingress, s.ingress.num_gpus or 0.0, settings.api.max_in_flight),
        "detector": _options(s.detector, detector_gpus, model_queue),
        "embedder": _options(s.embedder, _model_gpus(s.embedder, cluster_gpus), model_queue),
    }


def application(settings: Settings, cluster_gpus: float = 0.0) -> Application:
    """The bound application: api -> (detector, embedder), sized by ``settings.ray.serve``."""
    options = deployment_options(settings, cluster_gpus)
    detector = DETECTOR.options(**options["detector"]).bind(settings)
    embedder = EMBEDDER.options(**options["embedder"]).bind(settings)
    return API.options(**options["api"]).bind(settings, detector, embedder)
