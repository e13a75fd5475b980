"""ONNX Runtime sessions as every stage here wants them: best provider, no spinning threads,
and as many intra-op threads as the moment allows.

Each model keeps two sessions, a wide one (every core) and a narrow one (one thread); its
``ExecutionPolicy`` says per run which one to take (``lookalike.execution``: wide only when no
other model run is under way and at most one request is in flight). The wide session's threads
spin while it runs (and stop when it returns), which cut a lone request from 40.8 to 37.9 ms;
spinning beside other requests cost 5% of the throughput at 16 clients.

``open_session`` with a ``RuntimeRequest`` (the model's settings) may hand back an OpenVINO
session instead (``lookalike.openvino_sessions``: fp32, bf16, int8). With ``auto`` it times every
candidate this machine may run once per machine and keeps the fastest (``lookalike.runtime_trial``,
cached by model hash and CPU); the choice and its reason, with the figures, are on the session
(``choice``) and in the log, once per model file.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, overload

import numpy as np

from lookalike.cpu_features import this_cpu
from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import RuntimeChoice, RuntimeRequest, auto_candidates
from lookalike.runtime_trial import Trial, measured_choice, time_runs
from lookalike.settings import default_export_dir

log = logging.getLogger(__name__)


class Session(Protocol):
    """What the stages call on a model session, whichever engine runs it."""

    choice: RuntimeChoice

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> Any: ...

    def get_inputs(self) -> Any: ...

    def get_modelmeta(self) -> Any: ...


def available_providers() -> list[str]:
    """Prefer TensorRT, then CUDA, then the CPU, among what this onnxruntime build offers."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    order = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in order if p in have]


def _session(path: str | Path, threads: int, providers: list[str], spin: bool = False) -> Any:
    """Worker threads spin only while a run is under way (``spin``) or never: left spinning
    between runs they burn the cores other requests (and processes) need; on a shared 2-core
    machine one image took 6x longer."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if spin:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(str(path), options, providers=provider_options(providers, Path(path)))


def provider_options(providers: list[str], model: Path) -> list[str | tuple[str, dict[str, Any]]]:
    """On a GPU, TensorRT builds FP16 engines (the issue-18 GPU path; the FP16/fp32 speed and
    recall are measured by ``bench/triton/gpu.py``), cached beside the ONNX file so only the
    first process on a machine pays the build; CUDA keeps fp32 for the layers TensorRT leaves."""
    out: list[str | tuple[str, dict[str, Any]]] = []
    for provider in providers:
        if provider == "TensorrtExecutionProvider":
            cache = model.parent / "tensorrt-engines"
            options = {"trt_fp16_enable": True, "trt_engine_cache_enable": True}
            out.append((provider, {**options, "trt_engine_cache_path": str(cache)}))
        else:
            out.append(provider)
    return out


class AdaptiveSession:
    """An InferenceSession look-alike that picks its thread count per run (see module doc)."""

    def __init__(self, path: str | Path, threads: int = 0, execution: ExecutionPolicy | None = None) -> None:
        self.execution = execution or ExecutionPolicy()
        providers = available_providers()
        self.choice = RuntimeChoice("onnxruntime", "fp32", Path(path), "default")
        wide = self.execution.threads_per_run(threads)
        on_cpu = providers[0] == "CPUExecutionProvider"
        self.wide = _session(path, wide, providers, spin=on_cpu and wide > 1)
        self.narrow = _session(path, 1, providers) if on_cpu and wide > 1 else self.wide

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> Any:
        with self.execution.model_run() as wide:
            return (self.wide if wide else self.narrow).run(output_names, feeds)

    def get_inputs(self) -> Any:
        return self.wide.get_inputs()

    def get_modelmeta(self) -> Any:
        return self.wide.get_modelmeta()


@overload
def open_session(
    path: str | Path, threads: int = 0, execution: ExecutionPolicy | None = None, runtime: None = None
) -> AdaptiveSession: ...


@overload
def open_session(
    path: str | Path, threads: int, execution: ExecutionPolicy | None, runtime: RuntimeRequest
) -> Session: ...


def open_session(
    path: str | Path,
    threads: int = 0,
    execution: ExecutionPolicy | None = None,
    runtime: RuntimeRequest | None = None,
) -> Session:
    """A session with ``threads`` intra-op threads when alone (0 = all cores), one under load.

    Models that run side by side (a detector and an embedder) share one ``execution`` policy, so
    each sees the other's runs; without one, the session gets a policy of its own. ``runtime``
    (engine and precision from settings) picks the engine; None: ONNX Runtime in fp32."""
    if runtime is None:
        return AdaptiveSession(path, threads, execution)
    execution = execution or ExecutionPolicy()
    candidates = runtime_candidates(runtime, Path(path))
    opened: dict[tuple[str, str], Session] = {}

    def measure(choices: Sequence[RuntimeChoice]) -> list[Trial]:
        """Open every candidate (the winner is kept) and time them on the model's input shape."""
        for c in choices:
            opened[(c.engine, c.precision)] = _open_choice(c, path, threads, execution, runtime)
        sessions = [opened[(c.engine, c.precision)] for c in choices]
        feeds = _trial_feeds(sessions[0], runtime.trial_shape)
        timings = time_runs([functools.partial(s.run, None, feeds) for s in sessions])
        return [
            Trial(c.engine, c.precision, round(ms, 2), round(speedup, 3))
            for c, (ms, speedup) in zip(choices, timings, strict=True)
        ]

    choice = measured_choice(
        candidates,
        Path(path),
        cache_dir=(runtime.export_dir or default_export_dir()) / "runtime-choices",
        cpu=this_cpu(),
        threads=execution.threads_per_run(threads),
        versions=_engine_versions(),
        measure=measure,
        trial_shape=runtime.trial_shape,
    )
    session = opened.get((choice.engine, choice.precision)) or _open_choice(
        choice, path, threads, execution, runtime
    )
    opened.clear()
    session.choice = choice
    _log_choice(Path(path), choice)
    return session


def _open_choice(
    choice: RuntimeChoice,
    path: str | Path,
    threads: int,
    execution: ExecutionPolicy | None,
    runtime: RuntimeRequest,
) -> Session:
    if choice.engine == "onnxruntime":
        session: Session = AdaptiveSession(path, threads, execution)
    else:
        from lookalike.openvino_sessions import OpenVinoSession

        cache = runtime.export_dir / "openvino-cache" if runtime.export_dir is not None else None
        session = OpenVinoSession(
            choice.model,
            precision=choice.precision,
            threads=threads,
            execution=execution,
            cache_dir=cache,
            metadata_from=path,
        )
    session.choice = choice
    return session


def _trial_feeds(session: Session, first_shape: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """Seeded inputs of the model's own shape, a dynamic dimension as 1, or, for the first input,
    as ``first_shape`` says (a model whose batch is fixed keeps its own)."""
    rng = np.random.default_rng(0)
    feeds = {}
    for n, arg in enumerate(session.get_inputs()):
        wanted = first_shape if n == 0 and first_shape is not None else (1,) * len(arg.shape)
        shape = [d if isinstance(d, int) and d > 0 else w for d, w in zip(arg.shape, wanted, strict=False)]
        feeds[arg.name] = rng.random(shape, dtype=np.float32)
    return feeds


def _engine_versions() -> dict[str, str]:
    import onnxruntime as ort

    from lookalike.openvino_sessions import openvino_version

    return {"onnxruntime": ort.__version__, "openvino": openvino_version()}


def runtime_candidates(runtime: RuntimeRequest, path: Path) -> list[RuntimeChoice]:
    """``auto_candidates`` for this machine (its CPU, what is installed, any GPU)."""
    from lookalike.openvino_sessions import openvino_installed

    gpu = available_providers()[0] != "CPUExecutionProvider"
    return auto_candidates(runtime, path, this_cpu(), openvino_installed=openvino_installed(), gpu=gpu)


_logged: set[tuple[str, RuntimeChoice]] = set()


def _log_choice(path: Path, choice: RuntimeChoice) -> None:
    if (path.name, choice) not in _logged:
        _logged.add((path.name, choice))
        log.info("%s runs in %s on %s", path.name, choice.describe(), this_cpu().summary())
