"""OpenVINO behind the ONNX Runtime session calls the stages make (``run``, ``get_inputs``,
``get_modelmeta``), so the detector and the embedder never ask which engine runs them.

Like ``AdaptiveSession`` it keeps a wide compiled model (every core) and a narrow one (one thread)
and lets the ``ExecutionPolicy`` pick per run; a dynamic-batch model also keeps both with the batch
fixed at each of a request's usual sizes (``STATIC_BATCHES``). Compiled models are cached on disk by OpenVINO
(``CACHE_DIR``: keyed by the model file's hash and the compile settings), so a second process or
a restart skips the compile. The precision is set explicitly (``INFERENCE_PRECISION_HINT``):
OpenVINO would otherwise pick bf16 by itself on some CPUs, and that must be a decision.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeChoice

STATIC_BATCHES = 4
"""A model with a dynamic batch (the embedder) also gets a static copy per batch size up to this: a
request's crops. OpenVINO runs a static shape faster (the embedder in bf16 on an AMX Xeon, 1-3
crops: 7-12% less time a run, ``python -m bench.precision``); bigger batches (catalog loads) run
the dynamic model. Each copy costs about 40 MB (a server's RSS 1.28 -> 1.45 GB, docs/PRECISION.md)."""

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
"""OpenVINO's hint per precision; an int8 model's quantised layers run int8 whatever the hint, the
layers kept in higher precision run fp32."""


@dataclass(frozen=True)
class InputInfo:
    """An input as ONNX Runtime's ``NodeArg`` shows it: dynamic dimensions are strings."""

    name: str
    shape: list[int | str]


@dataclass(frozen=True)
class ModelMeta:
    """ONNX Runtime's ``ModelMetadata``, as far as the stages read it."""

    custom_metadata_map: dict[str, str] = field(default_factory=dict)


@cache
def _core() -> Any:
    import openvino as ov

    return ov.Core()


def onnx_metadata(path: Path) -> dict[str, str]:
    """The ONNX file's metadata_props (ultralytics writes class names and the stride there)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


class OpenVinoSession:
    """An InferenceSession look-alike over OpenVINO's CPU plugin (see the module doc)."""

    def __init__(
        self,
        model: str | Path,
        *,
        precision: str = "fp32",
        threads: int = 0,
        execution: ExecutionPolicy | None = None,
        cache_dir: Path | None = None,
        metadata_from: str | Path | None = None,
    ) -> None:
        self.execution = execution or ExecutionPolicy()
        self.precision = precision
        self.choice = RuntimeChoice("openvino", precision, Path(model), "direct")  # type: ignore[arg-type]
        wide = self.execution.threads_per_run(threads)
        self.wide = self._compile(Path(model), wide, cache_dir)
        # Narrow runs happen side by side (requests in flight at once): one stream of one thread
        # would queue them all on one core, so the narrow model gets one single-thread stream
        # per core (embedder bf16, two callers on 2 cores: 84.5 against 56.9 runs/s).
        self.narrow = (
            self._compile(Path(model), 1, cache_dir, streams=self.execution.cores) if wide > 1 else self.wide
        )
        self._inputs = [
            InputInfo(port.any_name, _dims(port.get_partial_shape())) for port in self.wide.inputs
        ]
        self._fixed: dict[tuple[bool, int], Any] = {}  # (wide, batch) -> a static copy
        if _batch_is_the_only_dynamic_dimension(self._inputs):
            graph = _core().read_model(str(model))  # read once, reshaped per copy
            for batch in range(1, STATIC_BATCHES + 1):
                fixed = _with_batch(graph, batch)
                self._fixed[True, batch] = self._compile(fixed, wide, cache_dir)
                self._fixed[False, batch] = (
                    self._compile(fixed, 1, cache_dir, streams=self.execution.cores)
                    if wide > 1
                    else self._fixed[True, batch]
                )
        meta_path = Path(metadata_from or model)
        self._meta = ModelMeta(onnx_metadata(meta_path) if meta_path.suffix == ".onnx" else {})
        self._local = threading.local()

    def _compile(self, model: Path | Any, threads: int, cache_dir: Path | None, *, streams: int = 1) -> Any:
        """``model``: a file, or a graph already read (a static copy); ``threads`` per run;
        ``streams`` runs at once (OpenVINO's thread total is their product)."""
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads * streams,
            "NUM_STREAMS": streams,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision],
            "ENABLE_HYPER_THREADING": False,
        }
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            config["CACHE_DIR"] = str(cache_dir)
        return _core().compile_model(str(model) if isinstance(model, Path) else model, "CPU", config)

    def _request(self, compiled: Any) -> Any:
        """One infer request per thread and compiled model: a request is not thread-safe."""
        requests: dict[int, Any] = self._local.__dict__.setdefault("requests", {})
        request = requests.get(id(compiled))
        if request is None:
            request = requests[id(compiled)] = compiled.create_infer_request()
        return request

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> list[np.ndarray]:
        with self.execution.model_run() as wide:
            compiled = self._fixed.get((wide, _batch_of(feeds)))
            if compiled is None:
                compiled = self.wide if wide else self.narrow
            result = self._request(compiled).infer(feeds)  # copies the outputs (share_outputs=False)
        outputs = [result[port] for port in compiled.outputs]
        if output_names is None:
            return outputs
        by_name = {port.any_name: out for port, out in zip(compiled.outputs, outputs, strict=True)}
        return [by_name[name] for name in output_names]

    def get_inputs(self) -> list[InputInfo]:
        return self._inputs

    def get_modelmeta(self) -> ModelMeta:
        return self._meta


def _with_batch(graph: Any, batch: int) -> Any:
    """A copy of a one-input graph with its batch fixed at ``batch``."""
    fixed = graph.clone()
    shape = fixed.inputs[0].get_partial_shape()
    shape[0] = batch
    fixed.reshape({fixed.inputs[0]: shape})
    return fixed


def _batch_is_the_only_dynamic_dimension(inputs: list[InputInfo]) -> bool:
    shape = inputs[0].shape if len(inputs) == 1 else []
    return bool(shape) and shape[0] == "?" and all(isinstance(d, int) for d in shape[1:])


def _batch_of(feeds: dict[str, Any]) -> int:
    """The batch of a one-input run (0 otherwise: no static copy applies)."""
    if len(feeds) != 1:
        return 0
    shape = getattr(next(iter(feeds.values())), "shape", ())
    return int(shape[0]) if shape else 0


def _dims(shape: Any) -> list[int | str]:
    return [d.get_length() if d.is_static else "?" for d in shape]


def openvino_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def openvino_version() -> str:
    """The installed OpenVINO's version ("" when it is not installed), without loading it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openvino")
    except PackageNotFoundError:
        return ""


__all__ = [
    "InputInfo",
    "ModelMeta",
    "OpenVinoSession",
    "onnx_metadata",
    "openvino_installed",
    "openvino_version",
]
