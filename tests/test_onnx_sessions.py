"""ONNX sessions take every core when alone and one thread when another model run is under way,
and leave no core spinning once a run returns."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.batching import InFlight
from lookalike.execution import ExecutionPolicy
from lookalike.onnx_sessions import AdaptiveSession, open_session
from lookalike.packaged import garment_yolo_onnx, garment_yolo_side

SIDE = garment_yolo_side()  # the detector's static input square


class Recorder:
    def __init__(self, name: str, log: list[str], gate: threading.Event | None = None) -> None:
        self.name, self.log, self.gate = name, log, gate

    def run(self, output_names: Any, feeds: Any) -> list[str]:
        self.log.append(self.name)
        if self.gate is not None:
            self.gate.wait(5)
        return [self.name]


def recorded(
    session: AdaptiveSession, name: str, log: list[str], gate: threading.Event | None = None
) -> None:
    session.wide, session.narrow = Recorder(f"{name}-wide", log, gate), Recorder(f"{name}-narrow", log)


def run_beside(first_policy: ExecutionPolicy, second_policy: ExecutionPolicy) -> tuple[str, str, str]:
    """Which session each run took: the second model's run while the first's is under way, the
    first's, and the second's again once it is alone."""
    first = open_session(garment_yolo_onnx(), execution=first_policy)
    second = open_session(garment_yolo_onnx(), execution=second_policy)
    log: list[str] = []
    gate = threading.Event()
    recorded(first, "first", log, gate)
    recorded(second, "second", log)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(first.run, None, {})
        while not log:  # the first run is inside its session
            threading.Event().wait(0.01)
        beside = second.run(None, {})[0]
        gate.set()
        alone_first = running.result()[0]
    return beside, alone_first, second.run(None, {})[0]


def test_a_lone_run_is_wide_and_a_concurrent_run_of_another_model_is_narrow() -> None:
    shared = ExecutionPolicy(cores=2)  # a detector and an embedder of one process share it
    assert run_beside(shared, shared) == ("second-narrow", "first-wide", "second-wide")


def test_models_of_another_runtime_do_not_count_as_company() -> None:
    beside, _, _ = run_beside(ExecutionPolicy(cores=2), ExecutionPolicy(cores=2))
    assert beside == "second-wide"


def test_with_other_requests_in_flight_even_a_lone_model_run_stays_narrow() -> None:
    requests = InFlight()
    session = open_session(garment_yolo_onnx(), execution=ExecutionPolicy(cores=2, demand=requests.count))
    log: list[str] = []
    recorded(session, "lone", log)
    with requests, requests:
        assert session.run(None, {}) == ["lone-narrow"]  # its wide threads would spin against the other
    with requests:
        assert session.run(None, {}) == ["lone-wide"]


def test_both_sessions_give_the_same_outputs() -> None:
    session = open_session(garment_yolo_onnx(), threads=2)
    x = np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32)
    name = session.get_inputs()[0].name
    wide = session.wide.run(None, {name: x})[0]
    narrow = session.narrow.run(None, {name: x})[0]
    assert np.allclose(wide, narrow, atol=1e-4)


def _thread_cpu_ticks(tids: set[str]) -> int:
    """User + system clock ticks these threads of this process have used."""
    total = 0
    for tid in tids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def test_after_a_lone_run_the_wide_session_leaves_no_core_spinning() -> None:
    """Its threads spin while a run is under way (a lone request is faster so), but not after:
    left spinning between runs they burn the cores other requests and processes need."""
    before = set(os.listdir("/proc/self/task"))
    session = open_session(garment_yolo_onnx(), threads=2, execution=ExecutionPolicy(cores=2))
    workers = set(os.listdir("/proc/self/task")) - before  # the sessions' own thread pools
    assert workers, "a two-thread session has a worker thread"
    x = np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: x})
    idle_ticks = 0
    for _ in range(6):
        session.run(None, {name: x})  # wide: the only run, no demand known
        start = _thread_cpu_ticks(workers)
        time.sleep(0.1)
        idle_ticks += _thread_cpu_ticks(workers) - start
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    assert idle_ticks * tick_ms <= 20, f"worker threads used {idle_ticks * tick_ms:.0f} ms of CPU while idle"
