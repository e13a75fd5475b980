"""An adapter file and the embedder that applies it on top of the frozen one."""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from embedder.adapters.lda import project
from embedder.base import Embedder
from embedder.training.head import ResidualHead
from lookalike.types import Vectors


@dataclass
class Adapter:
    """A residual head (``embedder.training.head``) for vectors of ``base_spec``, then (files since
    the LDA step) a square whitened-LDA projection ``(mean, matrix)`` from ``lda.py``, plus its report."""

    head: ResidualHead
    base_spec: str
    meta: dict[str, Any] = field(default_factory=dict)
    projection: tuple[np.ndarray, np.ndarray] | None = None

    def _tensors(self) -> dict[str, torch.Tensor]:
        state = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        if self.projection is not None:
            state["projection.mean"] = torch.from_numpy(np.ascontiguousarray(self.projection[0]))
            state["projection.matrix"] = torch.from_numpy(np.ascontiguousarray(self.projection[1]))
        return state

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        state = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        blob: dict[str, Any] = {"dim": self.head.dim, "hidden": self.head.hidden, "state": state}
        if self.projection is not None:
            blob["projection"] = {k: v for k, v in self._tensors().items() if k.startswith("projection.")}
        torch.save({**blob, "base_spec": self.base_spec, "meta": self.meta}, buf)
        return buf.getvalue()

    @property
    def digest(self) -> str:
        """Content hash of the weights and the base spec (not the report): the adapter's version."""
        h = hashlib.sha256(self.base_spec.encode())
        for name, tensor in self._tensors().items():
            h.update(name.encode())
            h.update(tensor.numpy().tobytes())
        return h.hexdigest()[:12]

    def save(self, folder: Path) -> Path:
        """Write ``adapter-<digest>.pt`` into ``folder`` (a new version never overwrites an old one)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"adapter-{self.digest}.pt"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)
        return path

    @torch.inference_mode()
    def apply(self, vectors: np.ndarray) -> Vectors:
        if len(vectors) == 0:
            return np.asarray(vectors, dtype=np.float32)
        out = self.head.eval()(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
        vecs = out.numpy().astype(np.float32)
        return vecs if self.projection is None else project(vecs, *self.projection)


def load_adapter(path: Path) -> Adapter:
    """Read an adapter file; a clear ``ValueError`` naming the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"adapter file {path} does not exist")
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
        head = ResidualHead(int(blob["dim"]), int(blob["hidden"]))
        head.load_state_dict(blob["state"])
        proj = blob.get("projection")
        projection = None
        if proj is not None:
            projection = (proj["projection.mean"].numpy(), proj["projection.matrix"].numpy())
        return Adapter(head.eval(), str(blob["base_spec"]), dict(blob.get("meta", {})), projection)
    except (KeyError, RuntimeError, TypeError, ValueError, OSError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{path} is not a lookalike adapter ({exc})") from exc


class AdaptedEmbedder:
    """The frozen embedder, then the adapter. ``spec`` = base spec + ``+adapter-<digest>``."""

    def __init__(self, base: Embedder, adapter: Adapter) -> None:
        if adapter.base_spec != base.spec:
            raise ValueError(
                f"the adapter was fitted on {adapter.base_spec!r} vectors, but the embedder is {base.spec!r}"
            )
        if adapter.head.dim != base.dim:
            raise ValueError(
                f"the adapter takes {adapter.head.dim}-d vectors, the embedder makes {base.dim}-d"
            )
        self.base, self.adapter = base, adapter
        self.spec = f"{base.spec}+adapter-{adapter.digest}"
        self.dim = base.dim

    def embed_images(self, images: Sequence[Image.Image]) -> Vectors:
        return self.adapter.apply(self.base.embed_images(images))


__all__ = ["AdaptedEmbedder", "Adapter", "load_adapter"]
