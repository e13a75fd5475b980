"""Fine-tuning MobileNetV2's last blocks (``embedder.training.tune``): the frozen prefix's cached
maps feed the tail, a training step on a tiny real set lowers the loss, only the tuned stages are
stored, and a stored tail loads offline as the ``product_tuned`` spec with unit vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from embedder import load_embedder
from embedder.training.backbone import (
    FIRST_TUNED,
    RetrievalHead,
    load_tuned_model,
    save_tail,
    split_mobilenet_v2,
)
from embedder.training.features import FeatureSet, extract_features
from embedder.training.maps import PrefixMaps
from embedder.training.sources import Sample, grocery_validation_samples
from embedder.training.tune import TuneConfig, norm_softmax_loss, tune_tail
from embedder.training.whitening import fit_whitening, matching_differences
from lookalike.settings import EmbedderSettings
from lookalike.splits import read_grocery_classes, split_grocery_classes
from tests.images import clothing_photos


def test_norm_softmax_loss_prefers_vectors_near_their_proxy() -> None:
    proxies = torch.nn.functional.normalize(torch.randn(8, 32), dim=1)
    labels = torch.arange(8).repeat_interleave(3)
    near = proxies[labels] + 0.05 * torch.randn(24, 32)
    assert (
        norm_softmax_loss(near, labels, proxies) < norm_softmax_loss(torch.randn(24, 32), labels, proxies) - 1
    )


def test_validation_photos_are_the_training_classes_val_split(shared_dir: Path) -> None:
    grocery = shared_dir / "data" / "grocery"
    train, held = split_grocery_classes(read_grocery_classes(grocery))
    val = grocery_validation_samples(grocery, train)
    store = [s for s in val if s.source == "grocery-store"]
    assert store and all("/val/" in str(s.image) for s in store)
    assert {s.identity for s in val} <= {f"grocery:{c}" for c in train}
    assert not {s.identity for s in val} & {f"grocery:{c}" for c in held}


def test_an_untouched_tail_is_imagenet_mobilenet_v2(tmp_path: Path) -> None:
    prefix, tail = split_mobilenet_v2()
    save_tail(tail, tmp_path / "tail.pt", {"note": "untouched"})
    blob = torch.load(str(tmp_path / "tail.pt"), weights_only=True)
    assert all(int(k.split(".")[1]) >= FIRST_TUNED for k in blob["state"])
    model, meta = load_tuned_model(tmp_path / "tail.pt")
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        ours, reference = model(x), tail.eval()(prefix.eval()(x))
    assert meta == {"note": "untouched"}
    assert torch.allclose(ours, reference, atol=2e-2 * float(reference.abs().max()))


@pytest.mark.slow
def test_tuning_lowers_the_loss_and_the_tail_loads_as_the_spec(tmp_path: Path) -> None:
    prefix, tail = split_mobilenet_v2()
    maps = PrefixMaps(prefix)
    photos = clothing_photos(8)
    samples = [Sample(p, f"clothing:{p.stem}", source="clothing") for p in photos]
    data = extract_features(samples, maps, 3, batch=8)
    assert data.features.shape == (24, 96 * 14 * 14) and maps.map_shape == (96, 14, 14)

    result = tune_tail(
        tail, data, maps.map_shape, TuneConfig(epochs=4, batch_size=24, lr=3e-4), log=lambda _s: None
    )
    losses = [row["loss"] for row in result.history]  # one full batch a step
    assert losses[-1] < losses[0], losses
    save_tail(tail, tmp_path / "tail.pt", {"note": "tiny"})

    settings = EmbedderSettings(spec=f"product_tuned@{tmp_path / 'tail.pt'}", batch_size=4, runtime="torch")
    tuned = load_embedder(settings)
    assert tuned.spec.startswith("product_tuned@tail-") and tuned.dim == 1280
    images = [Image.open(p).convert("RGB") for p in photos[:2]]
    vecs = tuned.embed_images(images)
    assert vecs.shape == (2, 1280) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    onnx = load_embedder(settings.model_copy(update={"runtime": "onnx"}), export_dir=tmp_path / "onnx")
    assert onnx.spec == tuned.spec and np.allclose(onnx.embed_images(images), vecs, atol=1e-3)
    base = load_embedder(EmbedderSettings(batch_size=4, runtime="torch"))
    assert not np.allclose(base.embed_images(images), vecs, atol=1e-3)


def test_a_missing_tail_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not exist"):
        load_embedder(EmbedderSettings(spec=f"product_tuned@{tmp_path / 'none.pt'}", runtime="torch"))


def test_the_shipped_tail_is_the_product_tuned_spec() -> None:
    from embedder.product_tuned import build_tuned_embedder, tail_digest
    from lookalike.packaged import product_tuned_tail

    path = product_tuned_tail()
    assert path.stat().st_size < 5_000_000
    _model, meta = load_tuned_model(path)
    assert meta["best_epoch"] >= 1
    assert meta["validation"]["val_grocery_r1"] > meta["validation_imagenet"]["val_grocery_r1"]
    tuned = build_tuned_embedder(image_size=224, batch_size=2, device="cpu")
    assert tuned.spec == f"product_tuned@tail-{tail_digest(path)}"
    vecs = tuned.embed_images([Image.open(p).convert("RGB") for p in clothing_photos(2)])
    assert vecs.shape == (2, 1280) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def test_whitening_evens_out_the_matching_differences() -> None:
    rng = np.random.default_rng(0)
    scale = np.linspace(0.1, 3.0, 16)
    centres = rng.normal(size=(30, 16))
    vectors = np.repeat(centres, 5, axis=0) + rng.normal(size=(150, 16)) * scale
    identity = np.repeat(np.arange(30), 5)
    diffs = matching_differences(vectors, identity)
    assert diffs.shape == (150, 16)
    mean, proj = fit_whitening(vectors, diffs, shrinkage=1e-3)
    white = (diffs @ proj).std(0)
    assert np.allclose(mean, vectors.mean(0), atol=1e-5)
    assert white.max() / white.min() < 1.5 < diffs.std(0).max() / diffs.std(0).min()
    shrunk = (diffs @ fit_whitening(vectors, diffs, shrinkage=10.0)[1]).std(0)
    assert shrunk.max() / shrunk.min() > white.max() / white.min()  # shrinkage keeps some of the shape
    with pytest.raises(ValueError, match="shrinkage"):
        fit_whitening(vectors, diffs, shrinkage=0.0)


def test_a_plain_head_is_average_pooling_and_a_whitened_tail_exports_with_unit_vectors(
    tmp_path: Path,
) -> None:
    maps = torch.rand(2, 1280, 7, 7) * 6
    assert torch.allclose(RetrievalHead()(maps), maps.mean((2, 3)), atol=1e-5)
    _prefix, tail = split_mobilenet_v2()
    rng = torch.Generator().manual_seed(0)
    head = RetrievalHead(1.0, torch.rand(1280, generator=rng) * 0.01, torch.randn(1280, 1280, generator=rng))
    save_tail(tail, tmp_path / "plain.pt", {"note": "plain"})
    save_tail(tail, tmp_path / "tail.pt", {"note": "whitened"}, head)
    settings = EmbedderSettings(spec=f"product_tuned@{tmp_path / 'tail.pt'}", batch_size=4, runtime="torch")
    tuned = load_embedder(settings)
    plain = load_embedder(settings.model_copy(update={"spec": f"product_tuned@{tmp_path / 'plain.pt'}"}))
    assert tuned.spec != plain.spec and tuned.dim == 1280
    images = [Image.open(p).convert("RGB") for p in clothing_photos(2)]
    vecs = tuned.embed_images(images)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(vecs, plain.embed_images(images), atol=1e-2)
    onnx = load_embedder(settings.model_copy(update={"runtime": "onnx"}), export_dir=tmp_path / "onnx")
    assert onnx.spec == tuned.spec and np.allclose(onnx.embed_images(images), vecs, atol=2e-3)


def test_tuning_from_an_earlier_stage_scales_its_learning_rate_and_stores_every_tuned_stage(
    tmp_path: Path,
) -> None:
    prefix, tail = split_mobilenet_v2(11)
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        maps = prefix.eval()(x)
    assert maps.shape[1:] == (64, 14, 14)
    rng = np.random.default_rng(0)
    data = FeatureSet(
        (np.repeat(maps.reshape(2, -1).numpy(), 4, axis=0) + rng.normal(0, 0.1, (8, 64 * 14 * 14))).astype(
            np.float32
        ),
        np.repeat(np.arange(2), 4).astype(np.int32),
        np.arange(8).astype(np.int32),
        np.zeros(8, np.int16),
        ["a", "b"],
        "test",
        np.asarray(["clothing"] * 8),
    )
    before = {k: v.clone() for k, v in tail.stages.state_dict().items()}
    cfg = TuneConfig(epochs=1, batch_size=8, early_lr_scale=0.0)
    tune_tail(tail, data, (64, 14, 14), cfg, log=lambda _s: None)
    after = tail.stages.state_dict()
    changed = {int(k.split(".")[0]) + 11 for k in after if not torch.equal(after[k], before[k])}
    assert changed and min(changed) >= FIRST_TUNED  # a factor of 0 freezes stages 11-13

    save_tail(tail, tmp_path / "tail.pt", {"note": "from 11"})
    blob = torch.load(str(tmp_path / "tail.pt"), weights_only=True)
    assert blob["first_tuned"] == 11 and {int(k.split(".")[1]) for k in blob["state"]} == set(range(11, 19))
    model, _meta = load_tuned_model(tmp_path / "tail.pt")
    with torch.inference_mode():
        ours, reference = model(x), tail.eval()(prefix(x))
    assert torch.allclose(ours, reference, atol=2e-2 * float(reference.abs().max()))


def test_the_earlier_version_stays_selectable_under_its_own_name() -> None:
    from embedder.product_tuned import build_tuned_embedder, tail_digest
    from lookalike.packaged import product_tuned_tail

    current = product_tuned_tail()
    v1 = current.parent / "v1" / "tail.pt"
    assert tail_digest(v1) == "7c7e3dfc9b" and tail_digest(current) != tail_digest(v1)
    blob = torch.load(str(current), weights_only=True)
    assert blob["first_tuned"] == 7 and torch.load(str(v1), weights_only=True)["first_tuned"] == FIRST_TUNED
    old = build_tuned_embedder(v1, image_size=224, batch_size=2, device="cpu")
    assert old.spec == "product_tuned@tail-7c7e3dfc9b"
    images = [Image.open(p).convert("RGB") for p in clothing_photos(2)]
    new = build_tuned_embedder(image_size=224, batch_size=2, device="cpu")
    assert not np.allclose(old.embed_images(images), new.embed_images(images), atol=1e-3)


def test_the_default_embedder_is_the_shipped_tail_and_mobilenet_v2_stays_selectable() -> None:
    """issue 15: the default is ``product_tuned`` (held-out grocery recall@1 0.568 vs 0.399, nothing
    lost on clothing-screenshots); ImageNet MobileNetV2, the old default, is one spec away and keeps
    its own vectors' name, so neither is ever searched with the other's index."""
    from embedder.product_tuned import tail_digest
    from lookalike.packaged import product_tuned_tail

    default = load_embedder(EmbedderSettings(runtime="torch", device="cpu", batch_size=2))
    assert default.spec == f"product_tuned@tail-{tail_digest(product_tuned_tail())}"
    old = load_embedder(
        EmbedderSettings(spec="torchvision:mobilenet_v2", runtime="torch", device="cpu", batch_size=2)
    )
    assert old.spec == "torchvision:mobilenet_v2@mobilenet_v2-b0353104.pth" != default.spec
    images = [Image.open(p).convert("RGB") for p in clothing_photos(2)]
    assert not np.allclose(old.embed_images(images), default.embed_images(images), atol=1e-2)
