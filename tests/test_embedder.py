"""Embedders: real packaged weights give unit vectors that find the same photo again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from embedder import load_embedder
from embedder.onnx_embedder import OnnxImageEmbedder
from embedder.torch_embedder import TorchImageEmbedder
from lookalike.batching import InFlight
from lookalike.execution import ExecutionPolicy
from lookalike.settings import EmbedderSettings
from tests.images import clothing_photos


@pytest.fixture(scope="module")
def mobilenet() -> TorchImageEmbedder:
    emb = load_embedder(EmbedderSettings(spec="torchvision:mobilenet_v2", batch_size=8, runtime="torch"))
    assert isinstance(emb, TorchImageEmbedder)
    return emb


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in clothing_photos(12)]


def test_packaged_mobilenet_gives_unit_vectors_in_batches(
    mobilenet: TorchImageEmbedder, photos: list[Image.Image]
) -> None:
    vectors = mobilenet.embed_images(photos)
    assert vectors.shape == (12, 1280) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # batching must not change the result
    one_by_one = np.vstack([mobilenet.embed_images([p]) for p in photos[:3]])
    assert np.allclose(one_by_one, vectors[:3], atol=1e-4)


def test_a_retouched_crop_is_nearest_to_its_original(
    mobilenet: TorchImageEmbedder, photos: list[Image.Image]
) -> None:
    catalog = mobilenet.embed_images(photos)
    queries = []
    for p in photos:
        w, h = p.size
        q = p.crop((int(w * 0.08), int(h * 0.08), int(w * 0.95), int(h * 0.95))).rotate(
            4, expand=True, fillcolor=(255, 255, 255)
        )
        queries.append(ImageEnhance.Brightness(q).enhance(1.15))
    nearest = np.argmax(mobilenet.embed_images(queries) @ catalog.T, axis=1)
    assert (nearest == np.arange(len(photos))).mean() >= 0.9


def test_spec_names_the_weights_file(mobilenet: TorchImageEmbedder) -> None:
    assert mobilenet.spec == "torchvision:mobilenet_v2@mobilenet_v2-b0353104.pth"


def test_spec_names_an_input_size_other_than_224(tmp_path: Path) -> None:
    """Another size makes other vectors, so it is part of the name indexes and caches are keyed by."""
    settings = EmbedderSettings(spec="torchvision:mobilenet_v2", image_size=192, batch_size=4)
    torch_emb = load_embedder(settings.model_copy(update={"runtime": "torch"}))
    onnx_emb = load_embedder(settings, export_dir=tmp_path)
    assert torch_emb.spec == onnx_emb.spec == "torchvision:mobilenet_v2@mobilenet_v2-b0353104.pth|192px"


def test_cpu_default_runs_onnx_runtime_with_the_same_spec_and_vectors(
    tmp_path: Path, mobilenet: TorchImageEmbedder, photos: list[Image.Image]
) -> None:
    onnx_emb = load_embedder(
        EmbedderSettings(spec="torchvision:mobilenet_v2", batch_size=4), export_dir=tmp_path
    )
    assert isinstance(onnx_emb, OnnxImageEmbedder)
    assert onnx_emb.spec == mobilenet.spec and onnx_emb.dim == 1280
    assert np.allclose(onnx_emb.embed_images(photos[:5]), mobilenet.embed_images(photos[:5]), atol=1e-3)
    exported = list(tmp_path.glob("*.onnx"))
    assert len(exported) == 1
    again = load_embedder(EmbedderSettings(spec="torchvision:mobilenet_v2"), export_dir=tmp_path)
    assert isinstance(again, OnnxImageEmbedder)
    assert list(tmp_path.glob("*.onnx")) == exported, "the export is cached by model hash"


def test_open_clip_plumbing_with_random_init(photos: list[Image.Image]) -> None:
    """Builds an OpenCLIP architecture WITHOUT pretrained weights (none can be downloaded
    here) to check the image and text towers, batching and normalisation, not quality."""
    emb = load_embedder(EmbedderSettings(spec="open_clip:RN50", batch_size=2))
    assert emb.spec == "open_clip:RN50@random-init"
    images = emb.embed_images(photos[:3])
    texts = emb.embed_texts(["a red shirt", "blue jeans"])  # type: ignore[attr-defined]
    assert images.shape == (3, emb.dim) and texts.shape == (2, emb.dim)
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-4)


def test_unknown_spec_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown embedder spec"):
        load_embedder(EmbedderSettings(spec="nope:thing"))
    with pytest.raises(ValueError, match="no packaged weights"):
        load_embedder(EmbedderSettings(spec="torchvision:resnet50"))


def test_efficientnet_lite0_spec_runs_on_onnx_with_the_torch_vectors(
    tmp_path: Path, photos: list[Image.Image]
) -> None:
    torch_emb = load_embedder(EmbedderSettings(spec="efficientnet_lite0", runtime="torch"))
    onnx_emb = load_embedder(EmbedderSettings(spec="efficientnet_lite0"), export_dir=tmp_path)
    assert isinstance(onnx_emb, OnnxImageEmbedder)
    assert onnx_emb.spec == torch_emb.spec == "efficientnet_lite0@efficientnet-lite0-57934424.pth"
    assert np.allclose(onnx_emb.embed_images(photos[:4]), torch_emb.embed_images(photos[:4]), atol=1e-3)


def test_numpy_preprocessing_equals_the_torch_formula_bit_for_bit() -> None:
    """The ONNX path normalises in numpy; the vectors in the index were made the torch way."""
    import torch

    from embedder.preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_center_crop, to_array

    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (300 + 9 * i, 250 + 5 * i, 3), dtype=np.uint8)) for i in range(4)
    ]
    pixels = np.stack([np.asarray(resize_center_crop(im, 224)) for im in images])
    t = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert np.array_equal(to_array(images, 224), ((t - mean) / std).numpy())


def test_crops_resized_on_a_thread_pool_give_the_same_batch() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from embedder.preprocess import to_array

    images = [Image.open(p).crop((0, 0, 90 + 40 * i, 300 - 50 * i)) for i, p in enumerate(clothing_photos(3))]
    with ThreadPoolExecutor(2) as pool:
        assert np.array_equal(to_array(images, 224, mapper=pool.map), to_array(images, 224))


class _Recorded:
    """A session that records the batch size of every run it makes (routing under test)."""

    def __init__(self, name: str, session: Any, log: list[tuple[str, int]]) -> None:
        self.name, self.session, self.log = name, session, log

    def run(self, output_names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.log.append((self.name, len(next(iter(feeds.values())))))
        return self.session.run(output_names, feeds)


def test_a_lone_request_runs_an_even_count_of_crops_as_two_narrow_halves_at_once(
    tmp_path: Path, photos: list[Image.Image]
) -> None:
    """Alone on two cores, 2 or 4 crops run as two halves side by side, one core each (the narrow
    sessions), with the vectors of one run; an odd count keeps one run over both cores, and
    under load every run is one narrow run."""
    searches = InFlight()
    emb = load_embedder(
        EmbedderSettings(spec="torchvision:mobilenet_v2", batch_size=8),
        export_dir=tmp_path,
        execution=ExecutionPolicy(cores=2, demand=searches.count),
    )
    assert isinstance(emb, OnnxImageEmbedder)
    expected = emb.embed_images(photos[:4])  # no request in flight: one run
    session: Any = emb._session
    log: list[tuple[str, int]] = []
    session.wide = _Recorded("wide", session.wide, log)
    session.narrow = _Recorded("narrow", session.narrow, log)
    with searches:
        assert np.allclose(emb.embed_images(photos[:4]), expected, atol=1e-5)
        assert sorted(log) == [("narrow", 2), ("narrow", 2)]
        log.clear()
        emb.embed_images(photos[:3])
        assert log == [("wide", 3)]
        log.clear()
        with searches:
            emb.embed_images(photos[:4])
        assert log == [("narrow", 4)]
