"""TensorRT FP16 plans from the ONNX exports (GPU machines only; TensorRT is not on the CPU CI).

A plan is built for one GPU architecture and TensorRT version: build it on the machine type
that serves it, with the TensorRT that the Triton container ships (``tensorrt`` in its Python,
or ``trtexec``). Optimisation profiles span batch 1 to the model's max batch size and, for the
detector, input sides from one stride to the letterbox square.
"""

from __future__ import annotations

from pathlib import Path

from triton_repo.exports import OnnxModel


def build_plan(model: OnnxModel, plan: Path, max_batch_size: int, *, fp16: bool = True) -> Path:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise RuntimeError(
            "--tensorrt needs TensorRT (a GPU machine, e.g. inside nvcr.io/nvidia/tritonserver); "
            f"or build the plan there: trtexec --onnx={model.path.name} --fp16 --saveEngine=model.plan"
        ) from exc
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {model.path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 2 << 30)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    c, h, w = model.input_dims
    if h == -1:  # the detector: any stride-multiple rectangle up to the square
        side = model.side
        low, opt, high = (
            (1, c, model.stride, model.stride),
            (1, c, side, side // 2),
            (max_batch_size, c, side, side),
        )
    else:
        low, opt, high = (1, c, h, w), (max(1, max_batch_size // 2), c, h, w), (max_batch_size, c, h, w)
    profile.set_shape(model.input_name, low, opt, high)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build a plan for {model.path}")
    plan.write_bytes(bytes(serialized))
    return plan
