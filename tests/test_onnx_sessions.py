"""ONNX sessions take every core when alone and one thread when another model run is under way."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from lookalike.batching import InFlight
from lookalike.onnx_sessions import AdaptiveSession, open_session
from lookalike.packaged import garment_yolo_onnx


class Recorder:
    def __init__(self, name: str, log: list[str], gate: threading.Event | None = None) -> None:
        self.name, self.log, self.gate = name, log, gate

    def run(self, output_names: Any, feeds: Any) -> list[str]:
        self.log.append(self.name)
        if self.gate is not None:
            self.gate.wait(5)
        return [self.name]


def test_a_lone_run_is_wide_and_a_concurrent_run_is_narrow() -> None:
    first, second = open_session(garment_yolo_onnx()), open_session(garment_yolo_onnx())
    log: list[str] = []
    gate = threading.Event()
    first.wide, first.narrow = Recorder("first-wide", log, gate), Recorder("first-narrow", log)
    second.wide, second.narrow = Recorder("second-wide", log), Recorder("second-narrow", log)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(first.run, None, {})
        while not log:  # the first run is inside its (wide) session
            threading.Event().wait(0.01)
        assert second.run(None, {}) == ["second-narrow"]
        gate.set()
        assert running.result() == ["first-wide"]
    assert second.run(None, {}) == ["second-wide"]  # alone again


def test_both_sessions_give_the_same_outputs() -> None:
    session = open_session(garment_yolo_onnx(), threads=2)
    assert isinstance(session, AdaptiveSession)
    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    name = session.get_inputs()[0].name
    wide = session.wide.run(None, {name: x})[0]
    narrow = session.narrow.run(None, {name: x})[0]
    assert np.allclose(wide, narrow, atol=1e-4)


def test_with_other_requests_in_flight_even_a_lone_model_run_stays_narrow(
    requests_in_flight: InFlight,
) -> None:
    session = open_session(garment_yolo_onnx())
    log: list[str] = []
    session.wide, session.narrow = Recorder("wide", log), Recorder("narrow", log)
    with requests_in_flight, requests_in_flight:
        assert session.run(None, {}) == ["narrow"]  # its wide threads would spin against the other
    with requests_in_flight:
        assert session.run(None, {}) == ["wide"]


def test_only_the_wide_session_spins_and_it_stops_when_its_run_returns() -> None:
    session = open_session(garment_yolo_onnx(), threads=2)
    assert isinstance(session, AdaptiveSession)
    wide, narrow = session.wide.get_session_options(), session.narrow.get_session_options()
    assert wide.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert wide.get_session_config_entry("session.force_spinning_stop") == "1"
    assert narrow.get_session_config_entry("session.intra_op.allow_spinning") == "0"
