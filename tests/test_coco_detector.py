"""The `coco` detector: COCO SSD MobileNetV2 from a registry package, loaded with the network
off, on real photos of the shared data; people are never returned as products."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detector import load_detector
from detector.coco import COCO_CATEGORIES, COCO_NAMES, CocoSsdDetector
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings

# A garment laid out on a bed, from the shared clothing photos (CC0).
FURNITURE_PHOTO = "clothing/images/0486260d-9355-4958-a7c8-1e672ef27a16.jpg"
PERSON_PHOTO = "people/images/0701.jpg"


@pytest.fixture(scope="module")
def coco() -> CocoSsdDetector:
    detector = load_detector(DetectorSettings(spec="coco"))
    assert isinstance(detector, CocoSsdDetector)
    return detector


def test_coco_loads_offline(no_network: list[Any]) -> None:
    detector = load_detector(DetectorSettings(spec="coco"))
    assert detector.spec == "coco" and not no_network


def test_coco_finds_the_furniture_in_a_real_photo(coco: CocoSsdDetector, shared_dir: Path) -> None:
    image = decode_image((shared_dir / "data" / FURNITURE_PHOTO).read_bytes())
    beds = [d for d in coco.detections(image) if d.name == "bed"]
    assert beds and beds[0].score > 0.7
    [region] = [r for r in coco.detect([image])[0] if r.box == beds[0].box]
    assert region.category == "furniture"


def test_people_are_never_product_regions(coco: CocoSsdDetector, shared_dir: Path) -> None:
    image = decode_image((shared_dir / "data" / PERSON_PHOTO).read_bytes())
    assert any(d.name == "person" and d.score > 0.8 for d in coco.detections(image))
    assert all(r.category is not None and r.category != "person" for r in coco.detect([image])[0])


def test_every_coco_class_is_mapped_or_dropped() -> None:
    assert set(COCO_CATEGORIES) == set(COCO_NAMES.values()) and len(COCO_NAMES) == 80
    assert COCO_CATEGORIES["person"] is None and COCO_CATEGORIES["chair"] == "furniture"
