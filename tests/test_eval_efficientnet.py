"""The EfficientNet-Lite0 embedder really carries ImageNet weights (offline, packaged)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embedder.efficientnet_lite import build_efficientnet_lite0_embedder, build_lite0_classifier
from embedder.preprocess import to_batch

SHARED = Path(os.environ.get("LOOKALIKE_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
GROCERY = SHARED / "data" / "grocery"
# Grocery classes that are ImageNet classes, with their ImageNet index.
IMAGENET = {
    "Banana": 954,
    "Granny-Smith": 948,
    "Lemon": 951,
    "Orange": 950,
    "Pineapple": 953,
    "Pomegranate": 957,
}

pytestmark = pytest.mark.skipif(not GROCERY.is_dir(), reason="needs ../shared/data/grocery")


def _photos(cls: str, n: int) -> list[Image.Image]:
    files = sorted(GROCERY.glob(f"test/Fruit/**/{cls}/*.jpg"))[:n]
    assert files, cls
    return [Image.open(f).convert("RGB") for f in files]


def test_full_model_names_the_fruit_in_store_photos() -> None:
    model = build_lite0_classifier()
    images, labels = [], []
    for cls, idx in IMAGENET.items():
        for img in _photos(cls, 2):
            images.append(img)
            labels.append(idx)
    with torch.inference_mode():
        logits = model(to_batch(images, 224))  # ImageNet-normalised, as every embedder feeds it
    top5 = logits.topk(5, dim=1).indices
    hits = (top5 == torch.tensor(labels)[:, None]).any(dim=1).float().mean().item()
    assert hits >= 0.8  # random weights score ~0.005


def test_embeddings_are_unit_1280d_and_cluster_by_class() -> None:
    emb = build_efficientnet_lite0_embedder(device="cpu")
    assert emb.dim == 1280 and emb.spec.startswith("efficientnet_lite0@")
    groups = [_photos(cls, 3) for cls in ("Banana", "Lemon", "Pomegranate")]
    vecs = emb.embed_images([img for g in groups for img in g])
    assert vecs.shape == (9, 1280) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    labels = np.repeat(np.arange(3), 3)
    same = sims[(labels[:, None] == labels[None, :]) & ~np.eye(9, dtype=bool)].mean()
    other = sims[labels[:, None] != labels[None, :]].mean()
    assert same > other + 0.1
