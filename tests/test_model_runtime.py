"""Which engine and precision a model runs in, chosen by the CPU's flags and the settings: bf16
only where the CPU has it natively, int8 only from an adopted quantised copy, and a clear error
for a pinned choice this machine cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lookalike.cpu_features import CpuFeatures, parse_cpuinfo
from lookalike.model_runtime import (
    RuntimeRequest,
    RuntimeUnavailable,
    choose_runtime,
    int8_paths,
)
from lookalike.packaged import garment_yolo_onnx

XEON_BF16 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8 amx_tile
"""
EPYC = parse_cpuinfo("model name\t: AMD EPYC\nflags\t\t: fpu avx avx2 fma\n")
XEON_VNNI = "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 avx512f avx512_vnni\n"
EPYC_AVX2 = "model name\t: AMD EPYC\nflags\t\t: fpu avx avx2 fma\n"


def cpu(text: str) -> CpuFeatures:
    return parse_cpuinfo(text)


def test_cpuinfo_flags_decide_bf16_and_int8_dot_products() -> None:
    xeon, vnni, epyc = cpu(XEON_BF16), cpu(XEON_VNNI), cpu(EPYC_AVX2)
    assert xeon.model == "Intel(R) Xeon(R) Platinum 8488C"
    assert (xeon.native_bf16, xeon.int8_dot, xeon.avx512) == (True, True, True)
    assert (vnni.native_bf16, vnni.int8_dot, vnni.avx512) == (False, True, True)
    assert (epyc.native_bf16, epyc.int8_dot, epyc.avx512) == (False, False, False)
    assert "avx512_bf16" in xeon.summary() and epyc.summary() == "AMD EPYC (avx2)"
    assert not parse_cpuinfo("").native_bf16


@pytest.fixture
def model() -> Path:
    return garment_yolo_onnx()


def adopt_int8(model: Path, export_dir: Path, adopted: bool = True) -> Path:
    """What ``lookalike quantize`` leaves: the IR (an empty stand-in here) and its manifest."""
    xml, manifest = int8_paths(model, export_dir)
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.write_text("<net/>")
    manifest.write_text(json.dumps({"adopted": adopted}))
    return xml


def test_auto_picks_bf16_only_on_a_cpu_that_has_it(model: Path) -> None:
    auto = RuntimeRequest()
    on_xeon = choose_runtime(auto, model, cpu(XEON_BF16), openvino_installed=True)
    assert (on_xeon.engine, on_xeon.precision, on_xeon.model) == ("openvino", "bf16", model)
    for other in (XEON_VNNI, EPYC_AVX2):
        fallback = choose_runtime(auto, model, cpu(other), openvino_installed=True)
        assert (fallback.engine, fallback.precision) == ("onnxruntime", "fp32"), other
        assert "no bf16" in fallback.reason


def test_auto_stays_on_onnx_runtime_without_openvino_or_with_a_gpu(model: Path) -> None:
    xeon = cpu(XEON_BF16)
    assert choose_runtime(RuntimeRequest(), model, xeon, openvino_installed=False).engine == "onnxruntime"
    on_gpu = choose_runtime(RuntimeRequest(), model, xeon, openvino_installed=True, gpu=True)
    assert (on_gpu.engine, on_gpu.precision) == ("onnxruntime", "fp32")


def test_auto_picks_an_adopted_int8_copy_where_allowed(model: Path, tmp_path: Path) -> None:
    xml = adopt_int8(model, tmp_path)
    detector = choose_runtime(RuntimeRequest(export_dir=tmp_path), model, EPYC, openvino_installed=True)
    assert (detector.precision, detector.model) == ("int8", xml)
    embedder = RuntimeRequest(export_dir=tmp_path, auto_int8=False)  # int8 vectors: another space
    assert choose_runtime(embedder, model, cpu(XEON_BF16), openvino_installed=True).precision == "bf16"


def test_an_int8_copy_that_lost_recall_is_not_picked(model: Path, tmp_path: Path) -> None:
    adopt_int8(model, tmp_path, adopted=False)
    choice = choose_runtime(RuntimeRequest(export_dir=tmp_path), model, EPYC, openvino_installed=True)
    assert choice.precision == "fp32"
    pinned = RuntimeRequest("auto", "int8", tmp_path)  # pinned: the user's decision
    assert choose_runtime(pinned, model, EPYC, openvino_installed=True).precision == "int8"


def test_pinned_choices_this_machine_cannot_run_are_configuration_errors(model: Path, tmp_path: Path) -> None:
    epyc = cpu(EPYC_AVX2)
    with pytest.raises(RuntimeUnavailable, match="no AVX512_BF16 or AMX"):
        choose_runtime(RuntimeRequest(precision="bf16"), model, epyc, openvino_installed=True)
    with pytest.raises(RuntimeUnavailable, match="lookalike quantize"):
        pinned = RuntimeRequest(precision="int8", export_dir=tmp_path)
        choose_runtime(pinned, model, epyc, openvino_installed=True)
    with pytest.raises(RuntimeUnavailable, match="runs in OpenVINO"):
        choose_runtime(RuntimeRequest("onnxruntime", "bf16"), model, cpu(XEON_BF16), openvino_installed=True)
    with pytest.raises(RuntimeUnavailable, match="openvino package"):
        choose_runtime(RuntimeRequest("openvino", "fp32"), model, epyc, openvino_installed=False)


def test_pinned_engines_and_fp32(model: Path) -> None:
    xeon = cpu(XEON_BF16)
    pinned_ov = choose_runtime(RuntimeRequest("openvino", "fp32"), model, xeon, openvino_installed=True)
    assert (pinned_ov.engine, pinned_ov.precision) == ("openvino", "fp32")
    pinned_ort = choose_runtime(RuntimeRequest("onnxruntime"), model, xeon, openvino_installed=True)
    assert (pinned_ort.engine, pinned_ort.precision) == ("onnxruntime", "fp32")
    ov_auto = choose_runtime(RuntimeRequest("openvino"), model, EPYC, openvino_installed=True)
    assert (ov_auto.engine, ov_auto.precision) == ("openvino", "fp32")
