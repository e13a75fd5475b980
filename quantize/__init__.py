"""int8 copies of the detector and the embedder, calibrated and checked on training data only.

``lookalike quantize detector|embedder`` runs NNCF's accuracy-controlled post-training
quantisation (layers that cost the metric stay in fp32) and writes the OpenVINO model beside
the ONNX exports (``lookalike.model_runtime.int8_paths``) with a manifest saying whether it kept
the metric within the tolerance (``adopted``); ``precision = "auto"`` takes only an adopted copy.
"""

from __future__ import annotations

from quantize.detector import quantize_detector
from quantize.embedder import quantize_embedder
from quantize.run import QuantizeResult

__all__ = ["QuantizeResult", "quantize_detector", "quantize_embedder"]
