"""Write a Triton model repository: detector, embedder and the one-call pipeline, with a README.

Layout (Triton's): ``<model>/config.pbtxt`` and ``<model>/1/<files>`` per model, plus
``README.md`` (how and from what it was generated) and ``lookalike.json`` (the same, for tools).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.settings import Settings
from triton_repo.configs import Backend, Device, ModelConfig, Scheduling, TensorSpec
from triton_repo.exports import OnnxModel, detector_onnx, embedder_onnx

MODELS_DIR = Path(__file__).resolve().parent / "models"
DETECTOR, EMBEDDER, PIPELINE = "detector", "embedder", "pipeline"


@dataclass(frozen=True)
class RepositoryOptions:
    backend: Backend = "onnxruntime"
    device: Device = "gpu"
    fp16: bool = True
    detector: Scheduling = field(
        default_factory=lambda: Scheduling(max_batch_size=16, preferred_batch_sizes=(4, 8))
    )
    embedder: Scheduling = field(default_factory=Scheduling)
    pipeline_instances: int = 2
    intra_op_threads: int = 0
    """Python-backend ONNX Runtime threads per instance; 0 = all cores."""


@dataclass(frozen=True)
class Repository:
    root: Path
    models: dict[str, Path]
    detector: OnnxModel
    embedder: OnnxModel


def write_repository(settings: Settings, out: Path, options: RepositoryOptions | None = None) -> Repository:
    """Export the configured detector and embedder and write the repository into ``out``."""
    options = options or RepositoryOptions()
    detector, imgsz = detector_onnx(settings.detector, settings.onnx_dir)
    embedder, image_size = embedder_onnx(settings.embedder, settings.onnx_dir)
    out.mkdir(parents=True, exist_ok=True)
    det_config = ModelConfig(
        name=DETECTOR,
        backend=options.backend,
        inputs=[TensorSpec(detector.input_name, "FP32", detector.input_dims)],
        outputs=[TensorSpec(detector.output_name, "FP32", detector.output_dims)],
        scheduling=options.detector if detector.dynamic_batch else _unbatched(options.detector),
        device=options.device,
        fp16=options.fp16,
        parameters={
            **_common_parameters(detector, options),
            "names": json.dumps(detector.names, sort_keys=True),
            "imgsz": str(imgsz),
            "stride": str(detector.stride),
            "rect_inputs": "1" if detector.input_dims[1] == -1 else "0",
        },
    )
    emb_config = ModelConfig(
        name=EMBEDDER,
        backend=options.backend,
        inputs=[TensorSpec(embedder.input_name, "FP32", (3, image_size, image_size))],
        outputs=[TensorSpec(embedder.output_name, "FP32", embedder.output_dims)],
        scheduling=options.embedder,
        device=options.device,
        fp16=options.fp16,
        parameters={**_common_parameters(embedder, options), "image_size": str(image_size)},
    )
    models = {
        DETECTOR: _write_model(out, det_config, detector, options),
        EMBEDDER: _write_model(out, emb_config, embedder, options),
    }
    pipe_config = _pipeline_config(settings, det_config, emb_config, detector, embedder, options)
    models[PIPELINE] = _write_python_model(out, pipe_config, "pipeline.py")
    _write_readme(out, settings, options, detector, embedder, [det_config, emb_config, pipe_config])
    return Repository(out, models, detector, embedder)


def _unbatched(s: Scheduling) -> Scheduling:
    """A static batch-1 ONNX cannot be batched by Triton."""
    return Scheduling(1, (1,), s.max_queue_delay_us, s.instances, dynamic_batching=False)


def _common_parameters(model: OnnxModel, options: RepositoryOptions) -> dict[str, str]:
    params = {
        "lookalike_spec": model.spec,
        "sha256": model.sha256,
        "input_name": model.input_name,
        "output_name": model.output_name,
        "dim": str(model.output_dims[-1]),
    }
    if options.backend == "python":
        params.update(onnx_file="model.onnx", intra_op_threads=str(options.intra_op_threads))
    return params


def _write_model(out: Path, config: ModelConfig, model: OnnxModel, options: RepositoryOptions) -> Path:
    folder = out / config.name
    version = folder / "1"
    version.mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(config.render(), encoding="utf-8")
    if options.backend == "tensorrt":
        from triton_repo.tensorrt import build_plan

        build_plan(model, version / "model.plan", config.scheduling.max_batch_size, fp16=options.fp16)
        return folder
    shutil.copyfile(model.path, version / "model.onnx")
    if options.backend == "python":
        shutil.copyfile(MODELS_DIR / "onnx_runner.py", version / "model.py")
    return folder


def _write_python_model(out: Path, config: ModelConfig, source: str) -> Path:
    folder = out / config.name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(config.render(), encoding="utf-8")
    shutil.copyfile(MODELS_DIR / source, folder / "1" / "model.py")
    return folder


def _pipeline_config(
    settings: Settings,
    det: ModelConfig,
    emb: ModelConfig,
    detector: OnnxModel,
    embedder: OnnxModel,
    options: RepositoryOptions,
) -> ModelConfig:
    from detector import garment_yolo_defaults
    from lookalike.specs import ModelSpec

    d = settings.detector
    dim = embedder.output_dims[-1]
    if ModelSpec.parse(d.spec).kind == "garment-yolo":
        flip, confidence = garment_yolo_defaults(d)
    else:
        flip, confidence = bool(d.flip_tta), 0.15 if d.confidence is None else d.confidence
    return ModelConfig(
        name=PIPELINE,
        backend="pipeline",
        inputs=[TensorSpec("IMAGE", "UINT8", (-1,))],
        outputs=[
            TensorSpec("BOXES", "FP32", (-1, 4)),
            TensorSpec("SCORES", "FP32", (-1,)),
            TensorSpec("CLASSES", "INT32", (-1,)),
            TensorSpec("VECTORS", "FP32", (-1, dim)),
        ],
        scheduling=Scheduling(instances=options.pipeline_instances),
        parameters={
            "detector_model": det.name,
            "detector_input": detector.input_name,
            "detector_output": detector.output_name,
            "embedder_model": emb.name,
            "embedder_input": embedder.input_name,
            "embedder_output": embedder.output_name,
            "imgsz": det.parameters["imgsz"],
            "stride": det.parameters["stride"],
            "rect_inputs": "1" if det.parameters["rect_inputs"] == "1" and d.rect_inputs else "0",
            "rect_margin_strides": str(d.rect_margin_strides),
            "confidence": str(confidence),
            "flip_tta": "1" if flip else "0",
            "detector_max_batch": str(det.scheduling.max_batch_size),
            "iou": str(d.iou),
            "agnostic_nms": "1" if d.agnostic_nms else "0",
            "max_regions": str(d.max_regions),
            "min_box_fraction": str(d.min_box_fraction),
            "pair_classes": ",".join(str(i) for i in pair_class_ids(settings, detector.names)),
            "image_size": emb.parameters["image_size"],
            "decode_long_side": str(settings.api.decode_long_side),
            "embed_batch": str(emb.scheduling.max_batch_size),
            "names": det.parameters["names"],
            "lookalike_spec": f"{detector.spec} -> {embedder.spec}",
        },
    )


def pair_class_ids(settings: Settings, names: dict[int, str]) -> list[int]:
    """Detector class ids whose region category comes in pairs (``detector.pair_categories``)."""
    from detector.categories import default_category_map
    from lookalike.specs import ModelSpec

    d = settings.detector
    kind = ModelSpec.parse(d.spec).kind
    mapping = d.category_map if d.category_map is not None else default_category_map(kind)
    return sorted(i for i, name in names.items() if mapping.get(name, name) in d.pair_categories)


def _write_readme(
    out: Path,
    settings: Settings,
    options: RepositoryOptions,
    detector: OnnxModel,
    embedder: OnnxModel,
    configs: list[ModelConfig],
) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        lookalike_version = version("lookalike")
    except PackageNotFoundError:
        lookalike_version = "source checkout"
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    manifest = {
        "generated": generated,
        "lookalike": lookalike_version,
        "backend": options.backend,
        "device": options.device,
        "fp16": options.fp16,
        "detector": {"spec": detector.spec, "source": detector.path.name, "sha256": detector.sha256},
        "embedder": {"spec": embedder.spec, "source": embedder.path.name, "sha256": embedder.sha256},
        "models": {
            c.name: {"max_batch_size": c.scheduling.max_batch_size, "instances": c.scheduling.instances}
            for c in configs
        },
    }
    (out / "lookalike.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    trt = " with TensorRT FP16 plans" if options.backend == "tensorrt" else ""
    rows = "\n".join(
        f"| `{c.name}` | {c.backend} | {c.scheduling.max_batch_size} | {c.scheduling.instances} | "
        f"{c.parameters.get('lookalike_spec', '')} |"
        for c in configs
    )
    (out / "README.md").write_text(
        f"""# lookalike Triton model repository

Generated by `lookalike export triton` ({lookalike_version}) on {generated}: backend
`{options.backend}`{trt}, instances on the {options.device.upper()}.
Do not edit by hand: change the settings and generate again (`lookalike bench sweep --write`
rewrites the batch sizes and instance counts it chose).

| model | backend | max batch | instances | made from |
| --- | --- | --- | --- | --- |
{rows}

- detector: `{detector.spec}`, ONNX `{detector.path.name}`, sha256 `{detector.sha256}`
  (input `{detector.input_name}` {list(detector.input_dims)}, classes {json.dumps(detector.names)})
- embedder: `{embedder.spec}`, ONNX `{embedder.path.name}`, sha256 `{embedder.sha256}`
  (input `{embedder.input_name}` {list(embedder.input_dims)}, output {list(embedder.output_dims)})
- pipeline: Python (BLS) model: encoded screenshot bytes (`IMAGE`, UINT8) in; `BOXES`, `SCORES`,
  `CLASSES` and L2-normalised `VECTORS` out. Decode, letterbox, detect, NMS, crop and embed run
  inside the server.

Serve it:

    tritonserver --model-repository $PWD      # e.g. in nvcr.io/nvidia/tritonserver:<yy.mm>-py3

and point lookalike at it: `LOOKALIKE_DETECTOR__SPEC=triton+grpc://HOST:8001/detector`,
`LOOKALIKE_EMBEDDER__SPEC=triton+grpc://HOST:8001/embedder` (docs/DEPLOY.md).
""",
        encoding="utf-8",
    )
