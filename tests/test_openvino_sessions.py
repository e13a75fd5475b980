"""OpenVINO sessions stand in for ONNX Runtime's: same outputs, same wide/narrow choice per run,
no core left spinning, and the detector and embedder pick them from settings."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detector import load_detector
from embedder import load_embedder
from lookalike.batching import InFlight
from lookalike.cpu_features import this_cpu
from lookalike.execution import ExecutionPolicy
from lookalike.onnx_sessions import open_session
from lookalike.openvino_sessions import STATIC_BATCHES, OpenVinoSession
from lookalike.packaged import garment_yolo_onnx, garment_yolo_side
from lookalike.settings import DetectorSettings, EmbedderSettings
from lookalike.types import DecodedImage
from tests.images import clothing_photos

pytest.importorskip("openvino")

SIDE = garment_yolo_side()  # the detector's static input square


def test_outputs_match_onnx_runtime_in_fp32() -> None:
    x = np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32)
    ort = open_session(garment_yolo_onnx(), threads=2)
    ov = OpenVinoSession(garment_yolo_onnx(), threads=2)
    name = ort.get_inputs()[0].name
    assert [i.name for i in ov.get_inputs()] == [name]
    assert ov.get_inputs()[0].shape == [1, 3, SIDE, SIDE]
    assert ov.get_modelmeta().custom_metadata_map["names"] == ort.get_modelmeta().custom_metadata_map["names"]
    expected, got = ort.run(None, {name: x})[0], ov.run(None, {name: x})[0]
    assert got.shape == expected.shape
    assert np.allclose(got, expected, atol=2e-3, rtol=1e-3)


def test_narrow_runs_of_concurrent_requests_each_get_a_core() -> None:
    """Narrow runs are the ones made while other requests are in flight: one stream would queue
    them all on one core, so the narrow model has a single-thread stream per core."""
    session = OpenVinoSession(garment_yolo_onnx(), threads=2, execution=ExecutionPolicy(cores=2))
    assert int(session.narrow.get_property("NUM_STREAMS")) == 2
    assert int(session.narrow.get_property("INFERENCE_NUM_THREADS")) == 2
    assert int(session.wide.get_property("NUM_STREAMS")) == 1
    assert int(session.wide.get_property("INFERENCE_NUM_THREADS")) == 2


class FakeCompiled:
    """Records which compiled model a run used (only the routing is under test here)."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.outputs = name, log, ["out"]

    def create_infer_request(self) -> Any:
        compiled = self

        class Request:
            def infer(self, feeds: Any) -> dict[str, str]:
                compiled.log.append(compiled.name)
                return {"out": compiled.name}

        return Request()


def test_a_run_goes_narrow_while_other_requests_are_in_flight() -> None:
    requests = InFlight()
    session = OpenVinoSession(garment_yolo_onnx(), execution=ExecutionPolicy(cores=2, demand=requests.count))
    log: list[str] = []
    session.wide, session.narrow = FakeCompiled("wide", log), FakeCompiled("narrow", log)
    with requests, requests:
        assert session.run(None, {}) == ["narrow"]
    with requests:
        assert session.run(None, {}) == ["wide"]


def _thread_cpu_ticks(tids: set[str]) -> int:
    total = 0
    for tid in tids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def test_after_a_run_no_openvino_thread_keeps_spinning() -> None:
    before = set(os.listdir("/proc/self/task"))
    session = OpenVinoSession(garment_yolo_onnx(), threads=2, execution=ExecutionPolicy(cores=2))
    x = np.random.default_rng(0).random((1, 3, SIDE, SIDE), dtype=np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: x})
    workers = set(os.listdir("/proc/self/task")) - before
    idle_ticks = 0
    for _ in range(6):
        session.run(None, {name: x})
        start = _thread_cpu_ticks(workers)
        time.sleep(0.1)
        idle_ticks += _thread_cpu_ticks(workers) - start
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    assert idle_ticks * tick_ms <= 20, f"OpenVINO threads used {idle_ticks * tick_ms:.0f} ms of idle CPU"


def screenshot() -> DecodedImage:
    from evaluation.synth.screenshot import compose_screenshot

    photos = [Image.open(p).convert("RGB") for p in clothing_photos(2, start=40)]
    img, _ = compose_screenshot(photos, random.Random(3), size=(585, 1266))
    return DecodedImage(img, "0" * 64)


@pytest.mark.slow
def test_the_detector_finds_the_same_boxes_in_openvino(tmp_path: Path) -> None:
    shot = screenshot()
    found = {}
    for engine in ("onnxruntime", "openvino"):
        settings = DetectorSettings(engine=engine, precision="fp32", rect_inputs=False)
        detector: Any = load_detector(settings, export_dir=tmp_path)
        assert detector.runtime_choice.engine == engine
        found[engine] = detector.detect([shot])[0]
    assert found["onnxruntime"], "the screenshot's products are found"
    assert len(found["openvino"]) == len(found["onnxruntime"])
    for a, b in zip(found["onnxruntime"], found["openvino"], strict=True):
        assert a.category == b.category
        assert np.allclose(a.box.as_list(), b.box.as_list(), atol=1.0)
        assert abs(a.score - b.score) < 2e-3


@pytest.mark.slow
def test_the_embedder_makes_the_same_vectors_in_openvino_and_keeps_its_vector_space(tmp_path: Path) -> None:
    crops = [Image.open(p).convert("RGB") for p in clothing_photos(5)]
    vectors, spaces = {}, {}
    for engine in ("onnxruntime", "openvino"):
        settings = EmbedderSettings(device="cpu", engine=engine, precision="fp32")
        embedder: Any = load_embedder(settings, tmp_path)
        assert embedder.runtime_choice.engine == engine
        vectors[engine], spaces[engine] = embedder.embed_images(crops), embedder.spec
    assert spaces["openvino"] == spaces["onnxruntime"]  # an fp32 index serves either engine
    assert float((vectors["onnxruntime"] * vectors["openvino"]).sum(1).min()) > 0.9999


@pytest.mark.skipif(not this_cpu().native_bf16, reason="this CPU has no bf16 in hardware")
def test_bf16_outputs_stay_close_to_fp32_where_the_cpu_has_bf16() -> None:
    x = np.random.default_rng(0).random((3, 3, 224, 224), dtype=np.float32)
    crops = [Image.fromarray((x[i].transpose(1, 2, 0) * 255).astype(np.uint8)) for i in range(3)]
    embedder: Any = load_embedder(EmbedderSettings(device="cpu", precision="fp32"))
    fp32 = embedder.embed_images(crops)
    bf16 = OpenVinoSession(embedder.runtime_choice.model, precision="bf16")
    name = bf16.get_inputs()[0].name
    from embedder.preprocess import to_array

    out = bf16.run(None, {name: to_array(crops, 224)})[0].reshape(3, -1)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    assert float((out * fp32).sum(1).min()) >= 0.998


def test_a_dynamic_batch_model_runs_a_request_s_crops_on_static_copies_with_the_same_outputs() -> None:
    """Batches of 1 to ``STATIC_BATCHES`` (a request's crops) run on copies with the batch fixed,
    which OpenVINO runs faster; a catalog's big batches run the dynamic model; outputs agree."""
    embedder: Any = load_embedder(EmbedderSettings(device="cpu", engine="onnxruntime", precision="fp32"))
    session = OpenVinoSession(embedder.runtime_choice.model, threads=2, execution=ExecutionPolicy(cores=2))
    assert session.get_inputs()[0].shape[0] == "?"
    assert sorted(session._fixed) == [(w, b) for w in (False, True) for b in range(1, STATIC_BATCHES + 1)]
    name = session.get_inputs()[0].name
    x = np.random.default_rng(1).random((STATIC_BATCHES + 2, 3, 224, 224), dtype=np.float32)
    used: list[Any] = []
    real = session._request

    def recording(compiled: Any) -> Any:
        used.append(compiled)
        return real(compiled)

    session._request = recording  # type: ignore[method-assign]
    whole = session.run(None, {name: x})[0]
    assert used[-1] is session.wide  # past the static sizes: the dynamic model
    for batch in (1, 3):
        part = session.run(None, {name: x[:batch]})[0]
        assert used[-1] is session._fixed[True, batch]
        assert np.allclose(part, whole[:batch], atol=1e-4)
