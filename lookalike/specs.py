"""Model spec strings: ``kind[:name][@weights]``, e.g. ``open_clip:ViT-B-32@laion2b_s34b_b79k``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelSpec:
    kind: str
    name: str | None
    weights: str | None

    @staticmethod
    def parse(spec: str) -> ModelSpec:
        spec = spec.strip()
        if not spec:
            raise ValueError("empty model spec")
        kind, _, rest = spec.partition(":")
        name, _, weights = rest.partition("@")
        return ModelSpec(kind.strip().lower(), name.strip() or None, weights.strip() or None)
