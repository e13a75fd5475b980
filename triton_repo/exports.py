"""The configured models as ONNX files for Triton: where they come from and what they take.

The detector is exported again from its ``.pt`` checkpoint with dynamic height and width, so
Triton runs each screenshot at its own minimal rectangle as the in-process detector does
(``detector/rect_exports.py``) with one model instead of one static file per shape. The
embedder is the same cached ONNX export the in-process backend runs (``embedder/onnx_export.py``).
"""

from __future__ import annotations

import ast
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lookalike.imaging import file_sha256
from lookalike.settings import DetectorSettings, EmbedderSettings
from lookalike.specs import ModelSpec

DYNAMIC_EXPORT_VERSION = "1"


@dataclass(frozen=True)
class OnnxModel:
    """An ONNX file with its I/O, as the repository writer needs it."""

    path: Path
    spec: str
    """The lookalike spec it was made from (for the detector) or its vector space (the embedder)."""
    input_name: str
    input_dims: tuple[int, ...]
    """Without the batch dimension; -1 is variable."""
    output_name: str
    output_dims: tuple[int, ...]
    dynamic_batch: bool
    names: dict[int, str]
    """Detector class names (empty for the embedder)."""
    stride: int = 32
    side: int = 320
    """The letterbox square the detector was exported at (ultralytics' ``imgsz`` metadata)."""

    @property
    def sha256(self) -> str:
        return file_sha256(self.path)


def describe_onnx(path: Path, spec: str) -> OnnxModel:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}

    def dims(value: object) -> tuple[bool, tuple[int, ...]]:
        shape = value.type.tensor_type.shape.dim  # type: ignore[attr-defined]
        sizes = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in shape)
        return sizes[0] == -1, sizes[1:]

    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    dynamic, input_dims = dims(inputs[0])
    _, output_dims = dims(model.graph.output[0])
    names = {int(k): str(v) for k, v in ast.literal_eval(meta["names"]).items()} if "names" in meta else {}
    return OnnxModel(
        path=path,
        spec=spec,
        input_name=inputs[0].name,
        input_dims=input_dims,
        output_name=model.graph.output[0].name,
        output_dims=output_dims,
        dynamic_batch=dynamic,
        names=names,
        stride=int(meta.get("stride", 32)),
        side=_square_side(meta.get("imgsz")),
    )


def _square_side(imgsz: str | None) -> int:
    """ultralytics writes ``imgsz`` as ``[h, w]`` (or one number); the square is the larger side."""
    if imgsz is None:
        return 320
    value = ast.literal_eval(imgsz)
    return int(max(value) if isinstance(value, list | tuple) else value)


def detector_onnx(settings: DetectorSettings, cache_dir: Path) -> tuple[OnnxModel, int]:
    """The detector's ONNX for Triton and its input size (the letterbox square side)."""
    spec = ModelSpec.parse(settings.spec)
    if spec.kind == "garment-yolo":
        from lookalike.packaged import garment_yolo_onnx, garment_yolo_side

        weights, imgsz = garment_yolo_onnx(), garment_yolo_side()
    elif spec.kind == "nudenet":
        from lookalike.packaged import nudenet_320n

        weights, imgsz = nudenet_320n(), 320
    elif spec.kind == "yolo" and spec.name:
        weights, imgsz = Path(spec.name), settings.imgsz
    else:
        raise ValueError(
            f"detector {settings.spec!r} cannot be served by Triton: it needs a YOLO detector "
            "(garment-yolo, nudenet or yolo:<.pt or .onnx>)"
        )
    checkpoint = weights.with_suffix(".pt")
    if checkpoint.is_file():
        return describe_onnx(export_dynamic(checkpoint, imgsz, cache_dir), settings.spec), imgsz
    if weights.suffix != ".onnx":
        raise ValueError(f"detector weights {weights} are neither .onnx nor beside a .pt checkpoint")
    described = describe_onnx(weights, settings.spec)
    fixed = described.input_dims[1] if described.input_dims[1] > 0 else imgsz
    return described, fixed


def export_dynamic(checkpoint: Path, imgsz: int, cache_dir: Path) -> Path:
    """A dynamic batch x height x width ONNX export of a YOLO checkpoint, cached by its hash."""
    key = file_sha256(checkpoint)[:16]
    path = cache_dir / f"yolo-{key}-dynamic{imgsz}-v{DYNAMIC_EXPORT_VERSION}.onnx"
    if path.is_file():
        return path
    from ultralytics import YOLO

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        local = Path(tmp) / checkpoint.name  # ultralytics writes beside the checkpoint
        shutil.copyfile(checkpoint, local)
        exported = YOLO(str(local), task="detect").export(
            format="onnx", imgsz=imgsz, dynamic=True, simplify=False, verbose=False
        )
        os.replace(exported, path)
    return path


def embedder_onnx(settings: EmbedderSettings, cache_dir: Path) -> tuple[OnnxModel, int]:
    """The embedder's ONNX for Triton and its crop side."""
    spec = ModelSpec.parse(settings.spec)
    if spec.kind == "onnx" and spec.name:
        from embedder.preprocess import vector_space

        path = Path(spec.name)
        return describe_onnx(
            path, vector_space(f"onnx:{path.name}", settings.image_size)
        ), settings.image_size
    from embedder import load_embedder
    from embedder.onnx_export import export_onnx
    from embedder.torch_embedder import TorchImageEmbedder

    torch_embedder = load_embedder(settings.model_copy(update={"runtime": "torch", "device": "cpu"}))
    if not isinstance(torch_embedder, TorchImageEmbedder) or not torch_embedder.exportable:
        raise ValueError(f"embedder {settings.spec!r} has no ONNX export; give onnx:<file> instead")
    path = export_onnx(torch_embedder, cache_dir)
    return describe_onnx(path, torch_embedder.spec), torch_embedder.image_size
