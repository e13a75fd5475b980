"""Detectors: photo blocks in real-looking screenshots, ultralytics YOLO with packaged weights."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from detector import load_detector
from detector.blocks import PhotoBlockDetector
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings
from lookalike.splits import read_clothing_labels
from lookalike.types import DecodedImage
from tests.images import clothing_photos


def as_decoded(img: Image.Image) -> DecodedImage:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return decode_image(buf.getvalue())


def test_blocks_finds_products_pasted_into_screenshots() -> None:
    from evaluation.synth.screenshot import compose_screenshot

    photos = clothing_photos(60)
    rng = random.Random(2024)
    detector = PhotoBlockDetector()
    found = total = 0
    for _ in range(12):
        products = [Image.open(p).convert("RGB") for p in rng.sample(photos, rng.randint(1, 2))]
        shot, boxes = compose_screenshot(products, rng)
        regions = detector.detect([as_decoded(shot)])[0]
        assert len(regions) <= detector.max_regions
        for box in boxes:
            total += 1
            found += any(r.box.iou(box) >= 0.5 for r in regions)
    assert found / total >= 0.8


def test_blocks_ignores_a_page_of_text_and_flat_ui() -> None:
    from PIL import ImageDraw

    page = Image.new("RGB", (1170, 2532), (250, 250, 250))
    draw = ImageDraw.Draw(page)
    for y in range(200, 2400, 70):
        draw.text(
            (60, y),
            "Free shipping on all orders over 50 EUR, returns within 30 days",
            fill=(20, 20, 20),
            font_size=40,
        )
    draw.rounded_rectangle((100, 2420, 1070, 2500), 30, fill=(0, 120, 255))
    assert PhotoBlockDetector().detect([as_decoded(page)])[0] == []


def test_none_detector_returns_the_whole_image() -> None:
    img = decode_image(clothing_photos(1)[0].read_bytes())
    regions = load_detector(DetectorSettings(spec="none")).detect([img])[0]
    assert len(regions) == 1 and regions[0].box.as_list() == [0, 0, img.width, img.height]


def test_yolo_detector_runs_packaged_ultralytics_onnx_weights() -> None:
    """NudeNet's YOLOv8n export through ultralytics: proves the yolo:<weights> path end to end.
    It finds body regions on people; on flat-lay garments it rightly finds little or nothing."""
    detector = load_detector(DetectorSettings(spec="nudenet", confidence=0.2))
    images = [decode_image(p.read_bytes()) for p in clothing_photos(3)]
    results = detector.detect(images)
    assert len(results) == 3
    for img, regions in zip(images, results, strict=True):
        for r in regions:
            assert 0 <= r.box.x1 < r.box.x2 <= img.width and 0 <= r.box.y1 < r.box.y2 <= img.height
            assert r.category and 0.2 <= r.score <= 1.0


def test_yolo_category_map_renames_classes() -> None:
    from detector.yolo import YoloDetector
    from lookalike.packaged import nudenet_320n

    det = YoloDetector(nudenet_320n(), imgsz=320, category_map={"FEET_COVERED": "Shoes"})
    assert "FEET_COVERED" in det.class_names.values()


def test_unknown_detector_spec_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown detector spec"):
        load_detector(DetectorSettings(spec="magic"))


def test_default_detector_is_our_garment_yolo_and_finds_pasted_products() -> None:
    from evaluation.synth.screenshot import compose_screenshot

    detector = load_detector(DetectorSettings())
    assert detector.spec == "garment-yolo"
    photos = clothing_photos(40, start=100)
    rng = random.Random(99)
    found = total = 0
    for _ in range(20):
        products = [Image.open(p).convert("RGB") for p in rng.sample(photos, rng.randint(1, 3))]
        shot, boxes = compose_screenshot(products, rng)
        regions = detector.detect([as_decoded(shot)])[0]
        for box in boxes:
            total += 1
            found += any(r.box.iou(box) >= 0.5 for r in regions)
        assert all(
            r.category in {"top", "bottom", "Dress", "outerwear", "Shoes", "Hat", "other"} for r in regions
        )
    assert found / total >= 0.85


def test_garment_yolo_names_regions_by_catalog_category_where_its_class_has_one(clothing_dir: Path) -> None:
    """A detected dress is a "Dress" (the clothing catalog's category), not the detector's "dress";
    a class that covers several categories ("top": T-Shirt, Shirt, ...) keeps its own name."""
    from evaluation.synth.screenshot import compose_screenshot

    labels = read_clothing_labels(clothing_dir)
    dresses = [
        clothing_dir / "images" / f"{i}.jpg" for i, label in sorted(labels.items()) if label == "Dress"
    ]
    detector = load_detector(DetectorSettings())
    as_classes = load_detector(DetectorSettings(category_map={}))
    rng = random.Random(5)
    named: list[str | None] = []
    classes: list[str | None] = []
    for path in dresses[:8]:
        shot, _ = compose_screenshot([Image.open(path).convert("RGB")], rng)
        named += [r.category for r in detector.detect([as_decoded(shot)])[0]]
        classes += [r.category for r in as_classes.detect([as_decoded(shot)])[0]]
    assert "Dress" in named and "dress" not in named
    assert "dress" in classes and "Dress" not in classes
    assert {c for c in named if c not in {"Dress", "Shoes", "Hat"}} <= {"top", "bottom", "outerwear", "other"}
