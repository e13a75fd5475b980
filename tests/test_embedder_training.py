"""Training the product embedder: its data never holds a benchmark query, its views are seeded, its
loss and head learn, and a trained head loads as the ``product`` embedder spec."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embedder import Embedder, load_embedder
from embedder.training.features import FeatureSet, extract_features
from embedder.training.head import ResidualHead, load_head, save_head
from embedder.training.sources import (
    PEOPLE_TEST_FIRST,
    Sample,
    clothing_samples,
    grocery_samples,
    people_samples,
)
from embedder.training.train import TrainConfig, recall_at_1, supcon_loss, train_head
from embedder.training.views import screenshot_view
from lookalike.settings import EmbedderSettings
from lookalike.splits import clothing_benchmark_targets, read_grocery_classes, split_grocery_classes
from tests.images import clothing_photos


@pytest.fixture(scope="module")
def grocery_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "grocery"


def test_grocery_classes_split_by_coarse_class_and_seeded(grocery_dir: Path) -> None:
    classes = read_grocery_classes(grocery_dir)
    train, held = split_grocery_classes(classes)
    assert len(classes) == 81 and len(train) + len(held) == 81 and 15 <= len(held) <= 35
    assert {classes[c] for c in train}.isdisjoint({classes[c] for c in held})
    assert split_grocery_classes(classes) == (train, held)


def test_training_data_holds_no_benchmark_query(shared_dir: Path, grocery_dir: Path) -> None:
    train, held = split_grocery_classes(read_grocery_classes(grocery_dir))
    grocery = grocery_samples(grocery_dir, train)
    assert {s.identity for s in grocery} == {f"grocery:{c}" for c in train}
    assert all("/test/" not in str(s.image) and "/val/" not in str(s.image) for s in grocery)
    assert sum(s.source == "grocery-iconic" for s in grocery) == len(train)
    with pytest.raises(ValueError, match="train on 'train' only"):
        grocery_samples(grocery_dir, held, split="test")
    clothing = clothing_samples(shared_dir / "data" / "clothing")
    targets = clothing_benchmark_targets(shared_dir / "data" / "clothing")
    assert clothing and not {s.identity.split(":", 1)[1] for s in clothing} & targets
    people = people_samples(shared_dir / "data" / "people")
    assert people and max(int(s.image.stem) for s in people) < PEOPLE_TEST_FIRST


def test_people_test_split_agrees_with_the_detector() -> None:
    from detector.training.people import SPLITS

    assert SPLITS["test"].start == PEOPLE_TEST_FIRST


def test_screenshot_views_are_seeded_and_vary() -> None:
    with Image.open(clothing_photos(1)[0]) as img:
        photo = img.convert("RGB")
    a = screenshot_view(photo, random.Random(3))
    b = screenshot_view(photo, random.Random(3))
    c = screenshot_view(photo, random.Random(4))
    assert a.mode == "RGB" and max(a.size) == 256
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert a.size != c.size or not np.array_equal(np.asarray(a), np.asarray(c))


def test_supcon_loss_prefers_grouped_vectors() -> None:
    labels = torch.arange(8).repeat_interleave(4)
    centres = torch.nn.functional.normalize(torch.randn(8, 32), dim=1)
    grouped = torch.nn.functional.normalize(centres[labels] + 0.05 * torch.randn(32, 32), dim=1)
    scattered = torch.nn.functional.normalize(torch.randn(32, 32), dim=1)
    assert supcon_loss(grouped, labels) < supcon_loss(scattered, labels) - 1.0


def test_an_untrained_head_is_the_identity() -> None:
    x = torch.nn.functional.normalize(torch.randn(5, 64), dim=1)
    assert torch.allclose(ResidualHead(64, 16).eval()(x), x, atol=1e-6)


def _shifted_clusters(identities: int, seed: int) -> FeatureSet:
    """Identities as Gaussian clusters; all but the first ("iconic") row of each carry strong noise
    in a few fixed directions (the store-photo domain gap, shared by all identities, seen or not):
    the head must learn to ignore those directions."""
    rng = np.random.default_rng(seed)
    dim, per = 64, 6
    centres = rng.normal(size=(identities, dim))
    nuisance = np.random.default_rng(99).normal(size=(4, dim))
    rows, ident, source = [], [], []
    for i in range(identities):
        for v in range(per):
            x = centres[i] + 0.3 * rng.normal(size=dim) + (rng.normal(size=4) * 2.0 @ nuisance if v else 0)
            rows.append(x)
            ident.append(i)
            source.append("grocery-iconic" if v == 0 else "grocery-store")
    feats = np.asarray(rows, np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    n = len(rows)
    return FeatureSet(
        feats,
        np.asarray(ident, np.int32),
        np.arange(n, dtype=np.int32),
        np.asarray([v for _ in range(identities) for v in range(per)], np.int16),
        [f"grocery:{i}" for i in range(identities)],
        "synthetic",
        np.asarray(source),
    )


@pytest.mark.slow
def test_training_learns_to_bridge_a_domain_gap_on_unseen_identities() -> None:
    train, held = _shifted_clusters(60, 0), _shifted_clusters(30, 1)
    anchor = held.source == "grocery-iconic"

    def validate(head: torch.nn.Module) -> dict[str, float]:
        args = (held.features[~anchor], held.identity[~anchor], held.features[anchor], held.identity[anchor])
        return {"r1": recall_at_1(head, *args)}

    cfg = TrainConfig(epochs=60, identities_per_batch=24, views_per_identity=3, hidden=32, lr=5e-3)
    result = train_head(train, cfg, validate, score=lambda row: row["r1"], log=lambda _s: None)
    before, after = result.history[0]["r1"], result.history[result.best_epoch]["r1"]
    assert after >= before + 0.2, (before, after)


@pytest.mark.slow
def test_a_trained_head_loads_as_the_product_spec(embedder: Embedder, tmp_path: Path) -> None:
    photos = clothing_photos(6)
    samples = [Sample(p, f"clothing:{p.stem}", source="clothing") for p in photos]
    feats = extract_features(samples, embedder, 2, batch=4)
    assert feats.features.shape == (12, embedder.dim) and list(feats.view) == [0, 1] * 6
    feats.save(tmp_path / "f.npz")
    again = FeatureSet.load(tmp_path / "f.npz")
    assert np.allclose(again.features, feats.features, atol=2e-3) and list(again.source) == ["clothing"] * 12

    cfg = TrainConfig(epochs=2, identities_per_batch=6, views_per_identity=2, hidden=16)
    result = train_head(again, cfg, log=lambda _s: None)
    save_head(result.head, tmp_path / "head.pt", {"note": "tiny"})
    head, meta = load_head(tmp_path / "head.pt")
    assert meta == {"note": "tiny"} and head.hidden == 16

    settings = EmbedderSettings(spec=f"product@{tmp_path / 'head.pt'}", batch_size=4, runtime="torch")
    product = load_embedder(settings)
    assert product.spec.startswith("product@head-") and product.dim == embedder.dim
    images = [Image.open(p).convert("RGB") for p in photos[:2]]
    vecs = product.embed_images(images)
    assert vecs.shape == (2, embedder.dim)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    onnx = load_embedder(settings.model_copy(update={"runtime": "onnx"}), export_dir=tmp_path / "onnx")
    assert onnx.spec == product.spec
    assert np.allclose(onnx.embed_images(images), vecs, atol=1e-3)


def test_a_missing_head_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_embedder(EmbedderSettings(spec=f"product@{tmp_path / 'none.pt'}", runtime="torch"))


def test_the_shipped_head_is_the_default_product_spec() -> None:
    from embedder.product import build_product_embedder, head_digest
    from lookalike.packaged import product_embedder_head

    head, meta = load_head(product_embedder_head())
    assert head.dim == 1280 and meta["best_epoch"] >= 1
    assert (
        meta["validation"]["held_out_grocery_r1"] > meta["validation_backbone_alone"]["held_out_grocery_r1"]
    )
    product = build_product_embedder(image_size=224, batch_size=2, device="cpu")
    assert product.spec == f"product@head-{head_digest(product_embedder_head())}"
