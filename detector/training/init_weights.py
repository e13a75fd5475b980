"""Start a YOLOv8n from real detector weights already on disk instead of random ones.

NudeNet's ``320n.onnx`` (shipped in the ``nudenet`` package) is an ultralytics YOLOv8n exported
with BatchNorm folded into each conv. Its initializers keep the PyTorch names, so the backbone,
neck and box head load into a fresh ``yolov8n.yaml`` model: conv weight = folded weight, BN set to
identity with the folded bias. The class head (different classes) stays random. Trained on people,
its features know skin, fabric and garment edges: far better than random for a short CPU run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def onnx_tensors(path: Path) -> dict[str, torch.Tensor]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}


def init_from_onnx(model: Any, onnx_path: Path) -> tuple[int, int]:
    """Copies folded conv weights into ``model`` (a DetectionModel); returns (loaded, skipped) convs."""
    tensors = onnx_tensors(onnx_path)
    state = model.state_dict()
    loaded = skipped = 0
    for name, weight in tensors.items():
        if not name.endswith(".conv.weight"):
            continue
        prefix = name[: -len(".conv.weight")]
        bias = tensors.get(f"{prefix}.conv.bias")
        if name not in state or state[name].shape != weight.shape:
            skipped += 1
            continue
        state[name] = weight.to(state[name].dtype)
        bn = f"{prefix}.bn"
        if bias is not None and f"{bn}.weight" in state:
            eps = _bn_eps(model, bn)
            state[f"{bn}.weight"] = torch.ones_like(state[f"{bn}.weight"])
            state[f"{bn}.bias"] = bias.to(state[f"{bn}.bias"].dtype)
            state[f"{bn}.running_mean"] = torch.zeros_like(state[f"{bn}.running_mean"])
            state[f"{bn}.running_var"] = torch.full_like(state[f"{bn}.running_var"], 1.0 - eps)
        loaded += 1
    # Plain convs with their own bias (the head's final 1x1 convs): ``model.22.cv2.0.2.weight``.
    for name, weight in tensors.items():
        if name.endswith(".weight") and not name.endswith("conv.weight") and name in state:
            b = name[: -len("weight")] + "bias"
            if state[name].shape == weight.shape and b in tensors and state[b].shape == tensors[b].shape:
                state[name], state[b] = weight, tensors[b]
                loaded += 1
            else:
                skipped += 1
    model.load_state_dict(state)
    return loaded, skipped


def _bn_eps(model: Any, bn_name: str) -> float:
    module = model.get_submodule(bn_name)
    return float(getattr(module, "eps", 1e-3))


def write_init_checkpoint(onnx_path: Path, cfg: str, nc: int, names: dict[int, str], out: Path) -> Path:
    """A ``.pt`` ultralytics can start training from (``YOLO(out).train(...)`` keeps matching weights)."""
    from detector.training.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(cfg, nc=nc, verbose=False)
    model.names = names
    loaded, _ = init_from_onnx(model, onnx_path)
    if loaded == 0:
        raise ValueError(f"{onnx_path}: no conv weights matched {cfg}")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {}, "init": {"from": str(onnx_path), "loaded": loaded}}, out)
    return out


def class_head_convs(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the detect head's last class convs (``model.22.cv3.<level>.2``), one per level."""
    return sorted(n[: -len(".weight")] for n in state if ".cv3." in n and n.endswith(".2.weight"))


def write_init_from_checkpoint(checkpoint: Path, names: dict[int, str], out: Path) -> Path:
    """Start from a trained checkpoint whose classes differ: every layer copied, and each class
    logit row moved to its class's new index by name; a class the checkpoint lacks starts fresh.

    So a 7-class garment detector learns an eighth class (bags) without forgetting the others.
    """
    from detector.training.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    source = (ckpt.get("ema") or ckpt["model"]).float()
    old_names: dict[int, str] = {int(k): str(v) for k, v in source.names.items()}
    model = DetectionModel(dict(source.yaml), nc=len(names), verbose=False)
    model.names = names
    old_state, state = source.state_dict(), model.state_dict()
    rows = {i: next((j for j, n in old_names.items() if n == name), None) for i, name in names.items()}
    heads = set(class_head_convs(state))
    for key, value in old_state.items():
        if key not in state:
            continue
        prefix = key.rsplit(".", 1)[0]
        if prefix in heads:
            for new, old in rows.items():
                if old is not None:
                    state[key][new] = value[old]
        elif state[key].shape == value.shape:
            state[key] = value
    model.load_state_dict(state)
    out.parent.mkdir(parents=True, exist_ok=True)
    init = {
        "from": str(checkpoint),
        "kept_classes": sorted(n for i, n in names.items() if rows[i] is not None),
    }
    torch.save({"model": model, "train_args": {}, "init": init}, out)
    return out
