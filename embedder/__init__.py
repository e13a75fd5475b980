"""Embedder stage: crops (and text) -> L2-normalised float32 vectors. See ``base.py``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedder.base import Embedder, TextEmbedder
from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeRequest
from lookalike.settings import EmbedderSettings, default_export_dir
from lookalike.specs import ModelSpec
from lookalike.triton_client import is_triton_spec

if TYPE_CHECKING:
    from embedder.torch_embedder import TorchImageEmbedder

__all__ = [
    "Embedder",
    "TextEmbedder",
    "catalog_settings",
    "load_embedder",
    "load_model",
    "precisions",
    "runtime_request",
]


def load_embedder(
    settings: EmbedderSettings, export_dir: Path | None = None, *, execution: ExecutionPolicy | None = None
) -> Embedder:
    """The embedder the settings name: the model of ``spec``, then flip averaging, colour histograms
    and the adapter when they are set (each part of the vectors' name)."""
    embedder = load_model(settings, export_dir, execution=execution)
    if settings.flip_average:
        from embedder.flip import FlipAveraged

        embedder = FlipAveraged(embedder)
    if settings.colour_histogram:
        from embedder.colour import WithColour

        embedder = WithColour(embedder)
    if settings.adapter is not None:
        from embedder.adapters import AdaptedEmbedder, load_adapter

        embedder = AdaptedEmbedder(embedder, load_adapter(settings.adapter))
    return embedder


def catalog_settings(settings: EmbedderSettings) -> EmbedderSettings:
    """The settings catalog photos are embedded with when queries run in bf16: the same model in
    fp32. bf16 queries search an fp32 catalog within 0.005 of fp32's recall, while bf16 on both
    sides lost grocery recall@10 0.008 (docs/PRECISION.md), so a catalog is always embedded in
    fp32; int8 is a vector space of its own, so both sides run it."""
    if settings.precision == "int8":
        return settings
    return settings.model_copy(update={"precision": "fp32"})


def precisions(embedder: object) -> set[str]:
    """The precisions the models under ``embedder``'s wrappers (batching, flip averaging, colour,
    adapter, concatenation) run in; empty for models with no runtime choice (torch, Triton)."""
    choice = getattr(embedder, "runtime_choice", None)
    if choice is not None:
        return {str(choice.precision)}
    found: set[str] = set()
    for part in getattr(embedder, "parts", None) or []:
        found |= precisions(part)
    wrapped = getattr(embedder, "inner", None) or getattr(embedder, "base", None)
    if wrapped is not None:
        found |= precisions(wrapped)
    return found


def load_model(
    settings: EmbedderSettings, export_dir: Path | None = None, *, execution: ExecutionPolicy | None = None
) -> Embedder:
    """Build the embedder a spec names. Heavy imports happen here, not at import time.

    ``export_dir`` caches its ONNX export (``Settings.onnx_dir``); ``execution`` is the policy its
    ONNX session shares with the other models of the process. torch's own threads are set from it
    too, explicitly, so an ``OMP_NUM_THREADS`` some import left in the environment never decides."""
    from embedder.concat import parse_concat

    parts = parse_concat(settings.spec)
    if parts is not None:
        from embedder.concat import Concatenated

        loaded = [
            load_model(settings.model_copy(update={"spec": p}), export_dir, execution=execution)
            for p in parts
        ]
        return Concatenated(loaded)
    if is_triton_spec(settings.spec):
        from embedder.triton import TritonEmbedder

        return TritonEmbedder(settings.spec, batch_size=settings.batch_size)
    from embedder.device import configure_cpu_threads

    execution = execution or ExecutionPolicy()
    configure_cpu_threads(execution.threads_per_run(settings.threads))
    name, _, weights = settings.spec.partition("@")
    if name.strip().lower() in ("efficientnet_lite0", "efficientnet_lite2"):
        from embedder import efficientnet_lite

        build = {
            "efficientnet_lite0": efficientnet_lite.build_efficientnet_lite0_embedder,
            "efficientnet_lite2": efficientnet_lite.build_efficientnet_lite2_embedder,
        }[name.strip().lower()]
        lite = build(
            weights.strip() or None,
            image_size=settings.image_size,
            batch_size=settings.batch_size,
            device=settings.device,
        )
        return _maybe_onnx(lite, settings, export_dir, execution)
    if name.strip().lower() == "product":
        from embedder.product import build_product_embedder

        product = build_product_embedder(
            weights.strip() or None,
            image_size=settings.image_size,
            batch_size=settings.batch_size,
            device=settings.device,
        )
        return _maybe_onnx(product, settings, export_dir, execution)
    if name.strip().lower() == "product_tuned":
        from embedder.product_tuned import build_tuned_embedder

        tuned = build_tuned_embedder(
            weights.strip() or None,
            image_size=settings.image_size,
            batch_size=settings.batch_size,
            device=settings.device,
        )
        return _maybe_onnx(tuned, settings, export_dir, execution)
    spec = ModelSpec.parse(settings.spec)
    common: dict[str, Any] = {"batch_size": settings.batch_size}
    if spec.kind == "torchvision":
        from embedder.torchvision_models import build_torchvision_embedder

        torch_embedder = build_torchvision_embedder(
            spec.name or "mobilenet_v2",
            spec.weights,
            image_size=settings.image_size,
            device=settings.device,
            **common,
        )
        return _maybe_onnx(torch_embedder, settings, export_dir, execution)
    if spec.kind == "open_clip":
        from embedder.open_clip_models import OpenClipEmbedder

        if not spec.name:
            raise ValueError("open_clip spec needs a model name: open_clip:ViT-B-32@<tag or file>")
        return OpenClipEmbedder(spec.name, spec.weights, device=settings.device, **common)
    if spec.kind == "onnx":
        from embedder.onnx_embedder import OnnxImageEmbedder

        if not spec.name:
            raise ValueError("onnx spec needs a file: onnx:/path/model.onnx")
        return OnnxImageEmbedder(
            spec.name,
            image_size=settings.image_size,
            threads=settings.threads,
            execution=execution,
            runtime=runtime_request(settings, export_dir),
            **common,
        )
    raise ValueError(f"unknown embedder spec {settings.spec!r}")


def _maybe_onnx(
    embedder: TorchImageEmbedder,
    settings: EmbedderSettings,
    export_dir: Path | None,
    execution: ExecutionPolicy,
) -> Embedder:
    """Swap in ONNX Runtime on the CPU: same spec, same vectors, several times faster."""
    use_onnx = settings.runtime == "onnx" or (settings.runtime == "auto" and embedder.device.type == "cpu")
    if not use_onnx or not embedder.exportable:
        return embedder
    from embedder.onnx_embedder import OnnxImageEmbedder
    from embedder.onnx_export import export_onnx

    path = export_onnx(embedder, export_dir or default_export_dir())
    return OnnxImageEmbedder(
        path,
        image_size=embedder.image_size,
        batch_size=embedder.batch_size,
        threads=settings.threads,
        spec=embedder.spec,
        execution=execution,
        runtime=runtime_request(settings, export_dir),
    )


TRIAL_CROPS = 3
"""Crops in ``auto``'s trial batch: a request's regions (2.2 on the bench queries, up to 5 on
posts), as ``bench.precision`` times the model. At one crop bf16's lead is smaller and noisier
(1.2-1.7x against 1.6x at three on a Zen 4), so a batch of one could flip the choice."""


def runtime_request(settings: EmbedderSettings, export_dir: Path | None) -> RuntimeRequest:
    """The engine and precision settings ask for; ``auto`` never picks int8 for the embedder, whose
    int8 vectors are another vector space (an index built in fp32 would not be served). It may pick
    bf16 where the CPU has it: bf16 queries keep recall on an fp32 catalog, and catalogs are always
    embedded in fp32 (``catalog_settings``). The trial times a request's batch (``TRIAL_CROPS``)."""
    side = settings.image_size
    return RuntimeRequest(
        settings.engine,
        settings.precision,
        export_dir or default_export_dir(),
        auto_int8=False,
        trial_shape=(TRIAL_CROPS, 3, side, side),
    )
