"""The trained part of the product embedder: a small residual head on the frozen backbone's vector.

``y = normalise(x + W2 gelu(W1 x))`` with ``W2`` started at zero: before training the head is the
identity, so the product embedder starts exactly where the ImageNet backbone is (which already finds
the very same photo almost always) and training only adds what tells products apart across photos.
About 0.66 M parameters (2.6 MB) at 1280 -> 256 -> 1280.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class ResidualHead(nn.Module):
    """L2-normalised in, L2-normalised out, same width (the index keeps its dimension)."""

    def __init__(self, dim: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.normalize(x, dim=-1)
        y = x + self.up(self.drop(self.act(self.down(x))))
        return nn.functional.normalize(y, dim=-1)


def save_head(head: ResidualHead, path: Path, meta: dict[str, Any]) -> None:
    """State dict plus the shape and the training facts the model card quotes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    torch.save({"dim": head.dim, "hidden": head.hidden, "state": state, "meta": meta}, path)


def load_head(path: Path) -> tuple[ResidualHead, dict[str, Any]]:
    blob = torch.load(str(path), map_location="cpu", weights_only=True)
    head = ResidualHead(int(blob["dim"]), int(blob["hidden"]))
    head.load_state_dict(blob["state"])
    return head.eval(), dict(blob.get("meta", {}))


__all__ = ["ResidualHead", "load_head", "save_head"]
