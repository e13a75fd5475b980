"""One NNCF run: an ONNX file, calibration inputs and a metric in, an int8 OpenVINO model out."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.cpu_features import this_cpu
from lookalike.model_runtime import int8_paths

log = logging.getLogger(__name__)

Metric = Callable[[Any, Sequence[Any]], tuple[float, list[float]]]
"""(compiled OpenVINO model, validation items) -> (score where higher is better, per-item scores)."""


@dataclass(frozen=True)
class QuantizeResult:
    """What a quantisation made and measured; written beside the model as its manifest."""

    source: str
    model: str
    metric: str
    fp32: float
    int8: float
    max_drop: float
    adopted: bool
    calibration: str
    validation: str
    seconds: float
    cpu: str

    @property
    def drop(self) -> float:
        return self.fp32 - self.int8


def quantize_onnx(
    onnx_path: Path,
    export_dir: Path,
    calibration: Sequence[np.ndarray],
    validation: Sequence[Any],
    metric: Metric,
    *,
    metric_name: str,
    describe_calibration: str,
    describe_validation: str,
    max_drop: float = 0.005,
    ignored: Any = None,
) -> QuantizeResult:
    """Quantise ``onnx_path`` to int8 keeping ``metric`` within ``max_drop`` (absolute) of fp32.

    NNCF reverts the layers that cost the most to fp32 until the drop fits; if it cannot, the copy
    is written anyway but not adopted (``auto`` never picks it; pinning int8 still can)."""
    import nncf
    import openvino as ov

    start = time.perf_counter()
    core = ov.Core()
    model = core.read_model(str(onnx_path))
    input_name = model.inputs[0].any_name
    calibration_set = nncf.Dataset(list(calibration), lambda x: {input_name: x})
    validation_set = nncf.Dataset(list(validation), lambda item: {input_name: item[0]})
    quantized = nncf.quantize_with_accuracy_control(
        model,
        calibration_dataset=calibration_set,
        validation_dataset=validation_set,
        validation_fn=metric,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(calibration),
        ignored_scope=ignored,
    )
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    fp32_score = metric(core.compile_model(model, "CPU", config), validation)[0]
    int8_score = metric(core.compile_model(quantized, "CPU", config), validation)[0]
    xml, manifest = int8_paths(onnx_path, export_dir)
    xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(xml), compress_to_fp16=False)
    result = QuantizeResult(
        source=str(onnx_path),
        model=str(xml),
        metric=metric_name,
        fp32=round(fp32_score, 4),
        int8=round(int8_score, 4),
        max_drop=max_drop,
        adopted=fp32_score - int8_score <= max_drop + 1e-9,
        calibration=describe_calibration,
        validation=describe_validation,
        seconds=round(time.perf_counter() - start, 1),
        cpu=this_cpu().summary(),
    )
    manifest.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    log.info(
        "int8 copy of %s: %s %.4f -> %.4f (adopted: %s)",
        onnx_path.name,
        metric_name,
        fp32_score,
        int8_score,
        result.adopted,
    )
    return result
