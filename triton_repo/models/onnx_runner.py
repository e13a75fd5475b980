"""Triton Python-backend model: one ONNX file run by ONNX Runtime on the CPU.

The CPU test server (the ``tritonserver`` bundled by nvidia-pytriton) ships only the Python
backend, so there the detector and the embedder run through this file. The production
repository (``--backend onnxruntime``) serves the same ONNX files with Triton's own ONNX Runtime
backend instead (CUDA / TensorRT). Requests arrive already batched by Triton's dynamic batcher:
requests of the same shape are stacked into one ONNX Runtime call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        folder = Path(args["model_repository"]) / args["model_version"]
        options = ort.SessionOptions()
        threads = int(params.get("intra_op_threads", "0"))
        if threads > 0:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(folder / params.get("onnx_file", "model.onnx")), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = config["input"][0]["name"]
        self.output_name = config["output"][0]["name"]
        self.onnx_input = self.session.get_inputs()[0].name
        self.onnx_output = self.session.get_outputs()[0].name

    def execute(self, requests: list[Any]) -> list[Any]:
        arrays = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        responses: list[Any] = [None] * len(requests)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, array in enumerate(arrays):
            groups.setdefault(array.shape[1:], []).append(i)
        for members in groups.values():
            batch = np.concatenate([arrays[i] for i in members]) if len(members) > 1 else arrays[members[0]]
            out = self.session.run([self.onnx_output], {self.onnx_input: batch})[0]
            start = 0
            for i in members:
                n = arrays[i].shape[0]
                part = np.ascontiguousarray(out[start : start + n].reshape(n, *out.shape[1:]))
                responses[i] = pb_utils.InferenceResponse([pb_utils.Tensor(self.output_name, part)])
                start += n
        return responses
