"""People layouts for the detector's training data: worn-garment boxes follow the photo through
every crop and scale, and a training set never shows a test-split photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.detector import detector_app
from detector.training.catalog import CatalogPhoto
from detector.training.classes import GARMENT_CLASS_MAP
from detector.training.dataset import DatasetConfig, PeoplePool, make_dataset
from detector.training.people import PeoplePhoto, WornBox
from detector.training.people_labels import PEOPLE_CLASS_MAP
from detector.training.people_layouts import PEOPLE_LAYOUTS

MAGENTA = (255, 0, 255)
WORN = {PEOPLE_CLASS_MAP.index_of("dress"), PEOPLE_CLASS_MAP.index_of("shoes")}


def _magenta(img: Image.Image) -> np.ndarray:
    a = np.asarray(img.convert("RGB")).astype(int)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return (r - g > 90) & (b - g > 90) & (np.abs(r - b) < 60)


def _person(tmp_path: Path) -> PeoplePhoto:
    """A grey 'street photo' 340x512 with a magenta dress and a magenta shoe, and a stocking (excluded)."""
    img = Image.new("RGB", (340, 512), (120, 128, 120))
    img.paste(Image.new("RGB", (140, 200), MAGENTA), (100, 120))
    img.paste(Image.new("RGB", (40, 30), MAGENTA), (150, 460))
    img.paste(Image.new("RGB", (20, 120), (30, 30, 30)), (160, 330))
    path = tmp_path / "people" / "0001.jpg"
    path.parent.mkdir(parents=True)
    img.save(path, quality=98)
    boxes = (WornBox(100, 120, 240, 320, "dress"), WornBox(150, 460, 190, 490, "shoes"))
    return PeoplePhoto(1, path, 340, 512, (*boxes, WornBox(160, 330, 180, 450, "stockings")))


def _catalog(tmp_path: Path) -> list[CatalogPhoto]:
    photos = []
    for i in range(4):
        path = tmp_path / "catalog" / f"item{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (200, 260), (0, 200, 200)).save(path)
        photos.append(CatalogPhoto(f"item{i}", path, "T-Shirt"))
    return photos


def _labels(label_file: Path, width: int, height: int) -> list[tuple[int, int, int, int, int]]:
    out = []
    for line in label_file.read_text().splitlines():
        c, cx, cy, w, h = (float(v) for v in line.split())
        out.append(
            (
                int(c),
                round((cx - w / 2) * width),
                round((cy - h / 2) * height),
                round((cx + w / 2) * width),
                round((cy + h / 2) * height),
            )
        )
    return out


@pytest.mark.parametrize("layout", sorted(PEOPLE_LAYOUTS))
def test_worn_garment_boxes_sit_on_the_garments(tmp_path: Path, layout: str) -> None:
    pool = PeoplePool([_person(tmp_path)], PEOPLE_CLASS_MAP)
    config = DatasetConfig(8, 0, seed=3, max_side=320, mix={layout: 1.0}, screen_photo=0.0, augment=False)
    make_dataset(_catalog(tmp_path), GARMENT_CLASS_MAP, tmp_path / "ds", config, people={"train": pool})
    worn = garment_px = labelled_px = 0
    for image_file in sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg")):
        img = Image.open(image_file)
        mask = _magenta(img)
        covered = np.zeros_like(mask)
        for c, x1, y1, x2, y2 in _labels(
            tmp_path / "ds" / "labels" / "train" / f"{image_file.stem}.txt", *img.size
        ):
            if c not in WORN:
                continue
            worn += 1
            assert mask[y1:y2, x1:x2].mean() > 0.7, f"{image_file.name}: {c} box is not on its garment"
            covered[max(0, y1 - 1) : y2 + 1, max(0, x1 - 1) : x2 + 1] = True
        garment_px += int(mask.sum())
        labelled_px += int((mask & covered).sum())
    assert worn >= 4
    # Garment pixels outside every box are garments mostly cut away (or a story's blurred backdrop).
    assert labelled_px >= (0.5 if layout == "person_story" else 0.75) * garment_px


def test_people_layouts_need_people_photos(tmp_path: Path) -> None:
    config = DatasetConfig(2, 0, mix={"person_post": 1.0})
    with pytest.raises(ValueError, match="people photos"):
        make_dataset(_catalog(tmp_path), GARMENT_CLASS_MAP, tmp_path / "ds", config)


def test_a_dataset_with_people_never_shows_a_test_split_photo(tmp_path: Path, shared_dir: Path) -> None:
    data = shared_dir / "data"
    result = CliRunner().invoke(
        detector_app,
        [
            "make-dataset",
            "--clothing-dir", str(data / "clothing"),
            "--people-dir", str(data / "people"),
            "--out", str(tmp_path / "ds"),
            "--train-images", "30",
            "--val-images", "10",
            "--max-side", "160",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["per_class"].get("bag", 0) > 0 and summary["per_class"].get("footwear", 0) > 0
    used = json.loads((tmp_path / "ds" / "items.json").read_text())["people_used"]
    assert used["train"] and all(1 <= n <= 650 for n in used["train"])
    assert used["val"] and all(651 <= n <= 700 for n in used["val"])
