"""ONNX Runtime sessions as every stage here wants them: best provider, no spinning threads,
and as many intra-op threads as the moment allows.

A lone request runs fastest with every core inside each operator (intra-op threads). Under
load, the detector and the embedder of one process run at the same time, and two sessions
of two threads each on two cores only thrash: one thread each gave 10-15% more throughput
at 16 clients, but a lone request was 20% slower. So each model keeps two sessions, a wide
one (all cores) and a narrow one (one thread), and every run takes the wide one only when no
other model run is under way in the process, and, where the process says how many requests it
has in flight (``lookalike.demand``), only when that is one: then the wide session's threads spin
while it runs (and stop when it returns), which cut a lone request from 40.8 to 37.9 ms;
spinning beside other requests cost 5% of the throughput at 16 clients.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from lookalike.demand import requests_in_flight

_active_runs = 0
_active_lock = threading.Lock()


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
    return ort.InferenceSession(str(path), options, providers=providers)


def models_running() -> int:
    """Model runs under way in this process (through any ``AdaptiveSession``)."""
    return _active_runs


class AdaptiveSession:
    """An InferenceSession look-alike that picks its thread count per run (see module doc)."""

    def __init__(self, path: str | Path, threads: int = 0) -> None:
        providers = available_providers()
        wide = threads or os.cpu_count() or 1
        on_cpu = providers[0] == "CPUExecutionProvider"
        self.wide = _session(path, wide, providers, spin=on_cpu and wide > 1)
        self.narrow = _session(path, 1, providers) if on_cpu and wide > 1 else self.wide

    def run(self, output_names: list[str] | None, feeds: dict[str, Any]) -> Any:
        global _active_runs
        with _active_lock:
            _active_runs += 1
            in_flight = requests_in_flight()  # unknown: the model runs alone decide
            alone = _active_runs == 1 and (in_flight is None or in_flight <= 1)
            session = self.wide if alone else self.narrow
        try:
            return session.run(output_names, feeds)
        finally:
            with _active_lock:
                _active_runs -= 1

    def get_inputs(self) -> Any:
        return self.wide.get_inputs()

    def get_modelmeta(self) -> Any:
        return self.wide.get_modelmeta()


def open_session(path: str | Path, threads: int = 0) -> AdaptiveSession:
    """A session with ``threads`` intra-op threads when alone (0 = all cores), one under load."""
    return AdaptiveSession(path, threads)
