"""Backbone features of every training view, computed once and cached.

The backbone stays frozen, so its vectors of a fixed set of augmented views are all the head ever
needs: on two shared CPU cores the backbone is the whole cost (about 7 ms a view through ONNX
Runtime), and the head then trains for many epochs in seconds each.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from embedder.base import Embedder
from embedder.training.sources import Sample
from embedder.training.views import screenshot_view


@dataclass
class FeatureSet:
    """Row ``i`` is view ``view[i]`` of sample ``sample[i]`` (view 0: the photo as it is)."""

    features: np.ndarray
    identity: np.ndarray
    sample: np.ndarray
    view: np.ndarray
    identities: list[str]
    backbone: str
    source: np.ndarray

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            features=self.features.astype(np.float16),
            identity=self.identity,
            sample=self.sample,
            view=self.view,
            identities=np.asarray(self.identities),
            backbone=np.asarray(self.backbone),
            source=self.source,
        )

    @staticmethod
    def load(path: Path) -> FeatureSet:
        with np.load(path) as z:
            return FeatureSet(
                z["features"].astype(np.float32),
                z["identity"],
                z["sample"],
                z["view"],
                [str(s) for s in z["identities"]],
                str(z["backbone"]),
                z["source"].astype(str),
            )

    @staticmethod
    def concat(parts: Sequence[FeatureSet]) -> FeatureSet:
        """One set of several (cached per source): identities renumbered, samples kept apart."""
        identities = sorted({name for part in parts for name in part.identities})
        index = {name: i for i, name in enumerate(identities)}
        offset, samples = 0, []
        for part in parts:
            samples.append(part.sample + offset)
            offset += int(part.sample.max()) + 1 if len(part.sample) else 0
        return FeatureSet(
            np.concatenate([p.features for p in parts]),
            np.concatenate(
                [np.asarray([index[p.identities[i]] for i in p.identity], np.int32) for p in parts]
            ),
            np.concatenate(samples).astype(np.int32),
            np.concatenate([p.view for p in parts]),
            identities,
            parts[0].backbone,
            np.concatenate([p.source for p in parts]),
        )

    def select(self, mask: np.ndarray) -> FeatureSet:
        return FeatureSet(
            self.features[mask],
            self.identity[mask],
            self.sample[mask],
            self.view[mask],
            self.identities,
            self.backbone,
            self.source[mask],
        )


def cached_features(path: Path, make: Callable[[], FeatureSet]) -> FeatureSet:
    """Load ``path`` when a run already computed it, else compute and save it (an interrupted
    training run keeps every set it finished)."""
    if path.is_file():
        return FeatureSet.load(path)
    data = make()
    data.save(path)
    return data


def cached_training_features(
    cache: Path, tag: str, train: dict[str, list[Sample]], extract: Callable[[list[Sample]], FeatureSet]
) -> FeatureSet:
    """The training views of every source, one cache file per source, concatenated."""
    parts = []
    for name, part in train.items():

        def make(part: list[Sample] = part) -> FeatureSet:
            return extract(part)

        parts.append(cached_features(cache / f"train-{name}-{tag}.npz", make))
    return FeatureSet.concat(parts)


def load_sample(sample: Sample) -> Image.Image:
    """The sample's photo in RGB, cropped to its box if it has one."""
    with Image.open(sample.image) as img:
        rgb = img.convert("RGB")
    if sample.box is not None:
        x1, y1, x2, y2 = (round(v) for v in sample.box)
        rgb = rgb.crop((x1, y1, x2, y2))
    return rgb


def extract_features(
    samples: Sequence[Sample],
    embedder: Embedder,
    views: int | Callable[[Sample], int],
    *,
    seed: int = 0,
    batch: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureSet:
    """``views`` views of each sample (a number, or one per sample): view 0 the photo itself, the
    others ``screenshot_view`` seeded by (seed, sample, view) so any subset recomputes the same."""
    identities = sorted({s.identity for s in samples})
    index = {name: i for i, name in enumerate(identities)}
    feats: list[np.ndarray] = []
    ident: list[int] = []
    sample_ids: list[int] = []
    view_ids: list[int] = []
    sources: list[str] = []
    pending: list[Image.Image] = []

    def flush() -> None:
        if pending:
            feats.append(embedder.embed_images(pending))
            pending.clear()

    for n, sample in enumerate(samples):
        img = load_sample(sample)
        count = views(sample) if callable(views) else views
        for v in range(count):
            rng = random.Random(f"{seed}:{sample.identity}:{sample.image.name}:{v}")
            pending.append(img if v == 0 else screenshot_view(img, rng))
            ident.append(index[sample.identity])
            sample_ids.append(n)
            view_ids.append(v)
            sources.append(sample.source)
        if len(pending) >= batch:
            flush()
            if progress is not None:
                progress(n + 1, len(samples))
    flush()
    return FeatureSet(
        np.concatenate(feats) if feats else np.zeros((0, embedder.dim), np.float32),
        np.asarray(ident, np.int32),
        np.asarray(sample_ids, np.int32),
        np.asarray(view_ids, np.int16),
        identities,
        embedder.spec,
        np.asarray(sources, dtype=str),
    )


__all__ = ["FeatureSet", "extract_features", "load_sample"]
