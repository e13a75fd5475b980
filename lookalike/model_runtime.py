"""Which engine and numeric precision run an ONNX model on this machine, and why.

Two engines run the same ONNX files: ONNX Runtime (every build, CUDA and TensorRT when present)
and OpenVINO (CPU). Three precisions: fp32; bf16 (OpenVINO, only where the CPU has bf16 in
hardware: ``lookalike.cpu_features``); int8 (OpenVINO, a quantised copy of the model made
offline by ``lookalike quantize`` and adopted only when it kept recall, ``int8_manifest``).

``auto_candidates`` lists what ``auto`` may pick on this machine and ``lookalike.runtime_trial``
times them once per machine and keeps the fastest (the session modules do both at load).
``choose_runtime`` is a pure function of the request, the CPU and what is installed and
quantised, tested per CPU kind: it decides pinned choices, and ``auto`` where nothing is
measured (the test suite), in order: int8 when an adopted int8 model exists and the request
allows it (the embedder does not by default: int8 vectors are another vector space), bf16 where
the CPU has it natively, else fp32 on ONNX Runtime, as before OpenVINO came.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lookalike.cpu_features import CpuFeatures
from lookalike.imaging import file_sha256

log = logging.getLogger(__name__)

Engine = Literal["auto", "onnxruntime", "openvino"]
Precision = Literal["auto", "fp32", "bf16", "int8"]

INT8_FORMAT_VERSION = "1"


@dataclass(frozen=True)
class RuntimeRequest:
    """What settings ask for one model: engine, precision, and where quantised models live."""

    engine: Engine = "auto"
    precision: Precision = "auto"
    export_dir: Path | None = None
    auto_int8: bool = True
    """May ``auto`` pick int8? False for the embedder (its int8 vectors are another vector space)
    and the detector (the adopted copy cost grocery recall@10 0.012: docs/PRECISION.md)."""
    auto_bf16: bool = True
    """May ``auto`` pick bf16 (where the CPU has it)? The embedder may: its bf16 queries keep
    recall on a catalog embedded in fp32, as catalogs always are. The detector only with weights
    whose bf16 boxes were measured to keep recall (``detector.bf16_checked``); pinned bf16 runs
    any (docs/PRECISION.md)."""
    trial_shape: tuple[int, ...] | None = None
    """The first input's shape when ``auto`` times the candidates, for a model whose dimensions
    are dynamic (an OCR line: 48 px high, as wide as the line); None: the model's own, 1 where
    dynamic."""


@dataclass(frozen=True)
class RuntimeChoice:
    """The engine and precision a model runs in, the file that runs, and the reason."""

    engine: Literal["onnxruntime", "openvino"]
    precision: Literal["fp32", "bf16", "int8"]
    model: Path
    reason: str

    def describe(self) -> str:
        return f"{self.engine} {self.precision} ({self.reason})"


class RuntimeUnavailable(ValueError):
    """A pinned engine or precision this machine cannot run (a configuration error)."""


def int8_paths(onnx_path: Path, export_dir: Path) -> tuple[Path, Path]:
    """(OpenVINO IR .xml, manifest .json) of the int8 copy of ``onnx_path``, named by its hash."""
    key = file_sha256(onnx_path)[:16]
    stem = export_dir / "int8" / f"{onnx_path.stem.split('-')[0]}-{key}-int8-v{INT8_FORMAT_VERSION}"
    return stem.with_suffix(".xml"), stem.with_suffix(".json")


def int8_manifest(onnx_path: Path, export_dir: Path | None) -> dict[str, object] | None:
    """What ``lookalike quantize`` recorded for this model's int8 copy, or None when there is none."""
    if export_dir is None:
        return None
    xml, manifest = int8_paths(onnx_path, export_dir)
    if not (xml.is_file() and manifest.is_file()):
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("unreadable int8 manifest %s: ignored", manifest)
        return None
    return data if isinstance(data, dict) else None


def choose_runtime(
    request: RuntimeRequest,
    onnx_path: Path,
    cpu: CpuFeatures,
    *,
    openvino_installed: bool,
    gpu: bool = False,
) -> RuntimeChoice:
    """The engine and precision for ``onnx_path`` (see the module doc); raises
    ``RuntimeUnavailable`` for a pinned choice this machine cannot run."""
    engine, precision = request.engine, request.precision
    if engine == "onnxruntime" and precision in ("bf16", "int8"):
        raise RuntimeUnavailable(f"precision {precision!r} runs in OpenVINO: set engine 'openvino' or 'auto'")
    if engine == "openvino" and not openvino_installed:
        raise RuntimeUnavailable("engine 'openvino' needs the openvino package (pip install openvino)")
    if precision in ("bf16", "int8") and not openvino_installed:
        raise RuntimeUnavailable(f"precision {precision!r} needs the openvino package (pip install openvino)")
    if precision == "bf16" and not cpu.native_bf16:
        raise RuntimeUnavailable(
            f"precision 'bf16' pinned, but {cpu.model} has no AVX512_BF16 or AMX: "
            "it would run emulated, slower than fp32; set precision 'auto' or 'fp32'"
        )
    manifest = int8_manifest(onnx_path, request.export_dir)
    if precision == "int8":
        if manifest is None:
            raise RuntimeUnavailable(
                f"precision 'int8' pinned, but {onnx_path.name} has no int8 copy in "
                f"{request.export_dir}: run `lookalike quantize` first"
            )
        return RuntimeChoice("openvino", "int8", int8_paths(onnx_path, request.export_dir)[0], "pinned")  # type: ignore[arg-type]
    if precision == "bf16":
        return RuntimeChoice("openvino", "bf16", onnx_path, "pinned; the CPU has bf16")
    if precision == "fp32":
        use_ov = engine == "openvino"
        return RuntimeChoice("openvino" if use_ov else "onnxruntime", "fp32", onnx_path, "pinned")
    # precision auto
    if engine == "onnxruntime" or gpu or not openvino_installed:
        return RuntimeChoice("onnxruntime", "fp32", onnx_path, _fp32_reason(openvino_installed, gpu, engine))
    if request.auto_int8 and manifest is not None and manifest.get("adopted") is True:
        xml = int8_paths(onnx_path, request.export_dir)[0]  # type: ignore[arg-type]
        return RuntimeChoice("openvino", "int8", xml, "an int8 copy kept recall (lookalike quantize)")
    if cpu.native_bf16 and request.auto_bf16:
        return RuntimeChoice("openvino", "bf16", onnx_path, "the CPU has bf16 in hardware")
    no_bf16 = "no bf16 in this CPU" if not cpu.native_bf16 else "bf16 not for this model under auto"
    if engine == "openvino":
        return RuntimeChoice("openvino", "fp32", onnx_path, f"engine pinned; {no_bf16}")
    return RuntimeChoice("onnxruntime", "fp32", onnx_path, f"{no_bf16} and no adopted int8 copy")


def auto_candidates(
    request: RuntimeRequest,
    onnx_path: Path,
    cpu: CpuFeatures,
    *,
    openvino_installed: bool,
    gpu: bool = False,
) -> list[RuntimeChoice]:
    """Every engine and precision ``auto`` may run ``onnx_path`` in on this machine, the baseline
    first (ONNX Runtime fp32, what the service ran before OpenVINO; OpenVINO fp32 when the engine
    is pinned to it, else no candidate: it timed within noise of ONNX Runtime alone and served
    slower under load, 0.73-0.91x, so a noisy trial must not pick it). ``lookalike.runtime_trial``
    times them and keeps the fastest. bf16 is a
    candidate only where the CPU has it natively and the request allows it, int8 only from an
    adopted copy the request allows. A pinned precision, a pinned ONNX Runtime, a GPU or no
    OpenVINO leave one candidate: ``choose_runtime``'s."""
    rules = choose_runtime(request, onnx_path, cpu, openvino_installed=openvino_installed, gpu=gpu)
    if request.precision != "auto" or request.engine == "onnxruntime" or gpu or not openvino_installed:
        return [rules]
    out: list[RuntimeChoice] = []
    if request.engine == "auto":  # OpenVINO fp32 is no candidate: it served 0.89-0.91x (the docs)
        out.append(RuntimeChoice("onnxruntime", "fp32", onnx_path, "the baseline: what ran before OpenVINO"))
    else:
        out.append(RuntimeChoice("openvino", "fp32", onnx_path, "engine pinned"))
    manifest = int8_manifest(onnx_path, request.export_dir)
    if request.auto_int8 and manifest is not None and manifest.get("adopted") is True:
        xml = int8_paths(onnx_path, request.export_dir)[0]  # type: ignore[arg-type]
        out.append(RuntimeChoice("openvino", "int8", xml, "an int8 copy kept recall (lookalike quantize)"))
    if cpu.native_bf16 and request.auto_bf16:
        out.append(RuntimeChoice("openvino", "bf16", onnx_path, "the CPU has bf16 in hardware"))
    return out if len(out) > 1 else [rules]  # alone: the rules say why


def _fp32_reason(openvino_installed: bool, gpu: bool, engine: Engine = "auto") -> str:
    if engine == "onnxruntime":
        return "engine pinned"
    if gpu:
        return "a GPU runs the models (ONNX Runtime's CUDA providers)"
    if not openvino_installed:
        return "openvino not installed"
    return "auto"


__all__ = [
    "Engine",
    "Precision",
    "RuntimeChoice",
    "RuntimeRequest",
    "RuntimeUnavailable",
    "auto_candidates",
    "choose_runtime",
    "int8_manifest",
    "int8_paths",
]
