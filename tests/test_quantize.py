"""int8 copies made by NNCF from training data: the detector's keep finding the same products and
run when pinned (``auto`` leaves them: grocery recall); the embedder's keep the same neighbours,
name a vector space of their own, and never search an index built in fp32."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from catalog_ingest import ingest_manifest
from detector import load_detector
from detector.training.catalog import read_clothing_dir
from detector.training.classes import load_class_map
from detector.training.dataset import DatasetConfig, make_dataset
from embedder import load_embedder
from index.versions import IndexVersionError
from lookalike.model_runtime import int8_paths
from lookalike.settings import DetectorSettings, EmbedderSettings
from lookalike.splits import clothing_benchmark_targets
from lookalike.types import Box, DecodedImage
from tests.conftest import RuntimeFactory
from tests.images import CLOTHING, SHARED, clothing_photos

pytest.importorskip("nncf")
pytestmark = pytest.mark.slow

GROCERY = SHARED / "data" / "grocery"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def detector_int8(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """int8 copies of garment-yolo from a tiny training dataset (the tolerance wide open: the
    test is about the path, ``lookalike quantize`` uses 0.005)."""
    from quantize import quantize_detector

    dataset = tmp_path_factory.mktemp("dataset")
    targets = clothing_benchmark_targets(CLOTHING)
    photos = [p for p in read_clothing_dir(CLOTHING) if p.item_id not in targets]
    config = DatasetConfig(10, 6, max_side=320, augment=False, mix={"grid": 0.5, "social": 0.5})
    make_dataset(photos[:200], load_class_map(None), dataset, config)
    return quantize_detector(
        DetectorSettings(), export_dir, dataset, calibration_images=10, validation_images=6, max_drop=1.0
    )


def screenshot(seed: int) -> DecodedImage:
    from evaluation.synth.screenshot import compose_screenshot

    photos = [Image.open(p).convert("RGB") for p in clothing_photos(2, start=60 + 2 * seed)]
    img, _ = compose_screenshot(photos, random.Random(seed), size=(585, 1266))
    return DecodedImage(img, f"{seed:064d}")


def test_the_int8_detector_is_adopted_and_pinned_finds_the_same_products(
    detector_int8: list[Any], export_dir: Path
) -> None:
    assert len(detector_int8) == 3  # the square and the two phone rectangles
    for result in detector_int8:
        manifest = json.loads(int8_paths(Path(result.source), export_dir)[1].read_text())
        assert manifest["adopted"] is True and "train images" in manifest["calibration"]
        assert 0.0 <= manifest["int8"] <= 1.0
    fp32: Any = load_detector(DetectorSettings(precision="fp32", engine="onnxruntime"), export_dir=export_dir)
    auto: Any = load_detector(DetectorSettings(), export_dir=export_dir)
    assert auto.runtime_choice.precision == "fp32"  # auto: int8 cost grocery recall (docs/PRECISION.md)
    auto = load_detector(DetectorSettings(precision="int8"), export_dir=export_dir)
    assert (auto.runtime_choice.engine, auto.runtime_choice.precision) == ("openvino", "int8")
    for seed in range(3):
        shot = screenshot(seed)
        want, got = fp32.detect([shot])[0], auto.detect([shot])[0]
        assert want, "the fixed screenshot has products to find"
        assert abs(len(got) - len(want)) <= 1
        best = [max((w.box.iou(g.box) for g in got), default=0.0) for w in want if w.score > 0.3]
        assert all(iou >= 0.8 for iou in best), best


# The embedder `lookalike quantize embedder` quantises when nothing is pinned: the default one.
DEFAULT_EMBEDDER = EmbedderSettings(device="cpu", batch_size=16)


@pytest.fixture(scope="module")
def embedder_int8(export_dir: Path) -> Any:
    from quantize import quantize_embedder

    return quantize_embedder(
        DEFAULT_EMBEDDER,
        export_dir,
        clothing_dir=CLOTHING,
        grocery_dir=GROCERY,
        calibration_images=16,
        validation_images=16,
        max_drop=1.0,
    )


def test_the_int8_embedder_keeps_the_top_10_in_a_vector_space_of_its_own(
    embedder_int8: Any, export_dir: Path
) -> None:
    fp32: Any = load_embedder(EmbedderSettings(device="cpu", precision="fp32"), export_dir)
    auto: Any = load_embedder(EmbedderSettings(device="cpu"), export_dir)
    assert auto.runtime_choice.precision == "fp32"  # auto never switches the vector space
    int8: Any = load_embedder(EmbedderSettings(device="cpu", precision="int8"), export_dir)
    assert int8.spec == fp32.spec + "|int8"
    catalog = [Image.open(p).convert("RGB") for p in clothing_photos(60)]
    queries = [img.rotate(8, expand=True).crop((20, 20, img.width, img.height)) for img in catalog[:8]]
    tops = []
    for model in (fp32, int8):  # each in its own vector space: catalog and queries alike
        scores = model.embed_images(queries) @ model.embed_images(catalog).T
        tops.append([set(row) for row in np.argsort(-scores, axis=1)[:, :10]])
    overlaps = [len(a & b) / 10 for a, b in zip(*tops, strict=True)]
    assert np.mean(overlaps) >= 0.8, overlaps


def test_an_index_built_in_fp32_is_never_searched_with_int8_vectors(
    embedder_int8: Any, export_dir: Path, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    rows = [{"item_id": f"item-{i}", "image": str(p)} for i, p in enumerate(clothing_photos(6))]
    manifest = tmp_path / "catalog.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["item_id", "image"])
        writer.writeheader()
        writer.writerows(rows)
    fp32_settings = DEFAULT_EMBEDDER.model_copy(update={"precision": "fp32"})
    fp32 = make_runtime(data_dir=data_dir, export_dir=export_dir, embedder=fp32_settings)
    ingest_manifest(fp32.ingest_parts(), manifest, "shop", progress=False)
    fp32.index_store.load("shop", model_spec=fp32.embedder.spec)  # its own space: served
    int8_settings = DEFAULT_EMBEDDER.model_copy(update={"precision": "int8"})
    int8 = make_runtime(data_dir=data_dir, export_dir=export_dir, embedder=int8_settings)
    assert int8.embedder.spec == fp32.embedder.spec + "|int8"  # the same model, only the precision
    with pytest.raises(IndexVersionError, match="int8"):
        int8.index_store.load("shop", model_spec=int8.embedder.spec)


def test_box_geometry_survives_the_fit_into_a_rectangle() -> None:
    from quantize.detector import fit

    rgb = np.zeros((200, 100, 3), np.uint8)
    x, scale, left, top = fit(rgb, (320, 224))
    assert x.shape == (1, 3, 320, 224)
    assert (scale, left, top) == (1.6, 32, 0)
    box = Box(10, 10, 50, 100)
    assert Box(box.x1 * scale + left, box.y1 * scale, box.x2 * scale + left, box.y2 * scale).as_list() == [
        48,
        16,
        112,
        160,
    ]
