"""``config.pbtxt`` text for each model of the generated repository.

Written as Triton's protobuf text format (``model_config.proto``); the tests parse every file
with tritonclient's own ``model_config_pb2``, so a typo fails there, not in a server's log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Backend = Literal["onnxruntime", "python", "tensorrt"]
"""How the detector and the embedder are served: Triton's ONNX Runtime backend (CPU or GPU, the
TensorRT accelerator on a GPU), TensorRT FP16 plans, or ONNX Runtime inside the Python backend
(the only backend the CPU test server bundled with nvidia-pytriton has)."""

Device = Literal["cpu", "gpu"]


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    """Triton's TYPE_* name without the prefix: FP32, INT32, UINT8."""
    dims: Sequence[int]
    """Without the batch dimension where the model batches; -1 is variable."""

    def render(self) -> str:
        dims = ", ".join(str(d) for d in self.dims)
        return f'  {{ name: "{self.name}" data_type: TYPE_{self.dtype} dims: [ {dims} ] }}'


@dataclass(frozen=True)
class Scheduling:
    """The knobs ``lookalike bench sweep`` chooses: batch sizes, queue delay and instances."""

    max_batch_size: int = 32
    preferred_batch_sizes: Sequence[int] = (4, 8, 16)
    max_queue_delay_us: int = 2000
    instances: int = 1
    dynamic_batching: bool = True

    def with_choice(self, max_batch_size: int, instances: int, dynamic_batching: bool = True) -> Scheduling:
        preferred = tuple(b for b in self.preferred_batch_sizes if b <= max_batch_size) or (max_batch_size,)
        return Scheduling(max_batch_size, preferred, self.max_queue_delay_us, instances, dynamic_batching)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    backend: Backend | Literal["pipeline"]
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    scheduling: Scheduling = field(default_factory=Scheduling)
    device: Device = "cpu"
    parameters: Mapping[str, str] = field(default_factory=dict)
    fp16: bool = True
    """GPU only: the TensorRT accelerator of the ONNX Runtime backend builds FP16 engines."""

    def render(self) -> str:
        lines = [f'name: "{self.name}"']
        if self.backend == "onnxruntime":
            lines += ['backend: "onnxruntime"', 'default_model_filename: "model.onnx"']
        elif self.backend == "tensorrt":
            lines += ['platform: "tensorrt_plan"', 'default_model_filename: "model.plan"']
        else:
            lines.append('backend: "python"')
        batching = self.backend != "pipeline"
        lines.append(f"max_batch_size: {self.scheduling.max_batch_size if batching else 0}")
        lines.append("input [\n" + ",\n".join(t.render() for t in self.inputs) + "\n]")
        lines.append("output [\n" + ",\n".join(t.render() for t in self.outputs) + "\n]")
        kind = "KIND_GPU" if self.device == "gpu" and self.backend != "pipeline" else "KIND_CPU"
        gpus = " gpus: [ 0 ]" if kind == "KIND_GPU" else ""
        lines.append(f"instance_group [ {{ kind: {kind} count: {self.scheduling.instances}{gpus} }} ]")
        if batching and self.scheduling.dynamic_batching:
            preferred = ", ".join(str(b) for b in self.scheduling.preferred_batch_sizes)
            lines.append(
                "dynamic_batching {\n"
                f"  preferred_batch_size: [ {preferred} ]\n"
                f"  max_queue_delay_microseconds: {self.scheduling.max_queue_delay_us}\n"
                "}"
            )
        if self.backend == "onnxruntime" and self.device == "gpu":
            lines.append(self._tensorrt_accelerator())
        if self.backend == "onnxruntime" and self.device == "cpu":
            lines.append("optimization { graph : { level : 1 } }")
        for key, value in sorted(self.parameters.items()):
            lines.append(
                f"parameters {{ key: {json.dumps(key)} value: {{ string_value: {json.dumps(value)} }} }}"
            )
        return "\n".join(lines) + "\n"

    def _tensorrt_accelerator(self) -> str:
        precision = "FP16" if self.fp16 else "FP32"
        return (
            "optimization {\n"
            "  cuda { graphs: false }\n"
            "  execution_accelerators {\n"
            "    gpu_execution_accelerator : [ {\n"
            '      name : "tensorrt"\n'
            f'      parameters {{ key: "precision_mode" value: "{precision}" }}\n'
            '      parameters { key: "max_workspace_size_bytes" value: "2147483648" }\n'
            '      parameters { key: "trt_engine_cache_enable" value: "1" }\n'
            '      parameters { key: "trt_engine_cache_path" value: "/tmp/lookalike-trt-cache" }\n'
            "    } ]\n"
            "  }\n"
            "}"
        )
