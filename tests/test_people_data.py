"""The shared people photos: every box read, every label mapped to a detector class or excluded
on purpose, and the test split (0701-0800) kept out of any training set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from detector.training.classes import GARMENT_CLASSES
from detector.training.people import SPLITS, in_split, labels_of, read_people, split_of, unmapped_labels
from detector.training.people_labels import EXCLUDED, PEOPLE_CATEGORIES, PEOPLE_CLASS_MAP


@pytest.fixture(scope="module")
def people_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "people"


def test_the_loader_reads_every_photo_and_box(people_dir: Path) -> None:
    photos = read_people(people_dir)
    assert len(photos) == 800
    assert sum(len(p.boxes) for p in photos) == 3889
    first = photos[0]
    assert first.number == 1 and first.path.name == "0001.jpg"
    with Image.open(first.path) as im:
        assert im.size == (first.width, first.height)
    assert all(0 <= b.x1 < b.x2 <= p.width and 0 <= b.y1 < b.y2 <= p.height for p in photos for b in p.boxes)


def test_every_label_in_the_data_is_mapped_or_excluded_and_none_is_lost(people_dir: Path) -> None:
    photos = read_people(people_dir)
    assert unmapped_labels(photos, PEOPLE_CLASS_MAP) == []
    seen = Counter(b.label for p in photos for b in p.boxes)
    assert len(seen) == 48
    kept = excluded = 0
    for photo in photos:
        labels, dropped = labels_of(photo, PEOPLE_CLASS_MAP)
        assert len(labels) + len(dropped) == len(photo.boxes)
        assert all(b.label in EXCLUDED for b in dropped)
        kept, excluded = kept + len(labels), excluded + len(dropped)
    assert kept + excluded == 3889
    # What the model card promises: garments, footwear, bags, hats and scarves are products.
    assert {PEOPLE_CLASS_MAP.class_of(n) for n in ("shoes", "boots", "sandals")} == {"footwear"}
    assert {PEOPLE_CLASS_MAP.class_of(n) for n in ("bag", "purse", "wallet")} == {"bag"}
    assert PEOPLE_CLASS_MAP.class_of("scarf") == "other" and PEOPLE_CLASS_MAP.class_of("hat") == "headwear"
    assert all(PEOPLE_CLASS_MAP.class_of(n) is None for n in ("stockings", "belt", "sunglasses", "skin"))


def test_the_map_covers_the_whole_co_parsing_vocabulary_and_uses_only_detector_classes() -> None:
    assert len(PEOPLE_CATEGORIES) == 59
    assert {c for c in PEOPLE_CATEGORIES.values() if c is not None} == set(GARMENT_CLASSES)
    assert {n for n, c in PEOPLE_CATEGORIES.items() if c is None} == set(EXCLUDED)


def test_a_label_outside_the_map_is_an_error_naming_it(tmp_path: Path) -> None:
    Image.new("RGB", (40, 60)).save(tmp_path / "0001.jpg")
    row = {
        "image": "0001.jpg",
        "width": 40,
        "height": 60,
        "boxes": [{"box": [1, 2, 30, 40], "label": "cravat"}],
    }
    (tmp_path / "boxes.jsonl").write_text(json.dumps(row) + "\n")
    photos = read_people(tmp_path)
    assert unmapped_labels(photos, PEOPLE_CLASS_MAP) == ["cravat"]
    with pytest.raises(KeyError, match="cravat"):
        labels_of(photos[0], PEOPLE_CLASS_MAP)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {
                "image": "0001.jpg",
                "width": 40,
                "height": 60,
                "boxes": [{"box": [5, 5, 4, 9], "label": "hat"}],
            },
            "empty",
        ),
        ({"image": "0001.jpg", "width": 40, "height": 60, "boxes": [{"label": "hat"}]}, "bad row"),
        ({"image": "0002.jpg", "width": 40, "height": 60, "boxes": []}, "missing"),
    ],
)
def test_a_broken_row_names_its_line(tmp_path: Path, row: dict[str, object], message: str) -> None:
    Image.new("RGB", (40, 60)).save(tmp_path / "0001.jpg")
    good = {"image": "0001.jpg", "width": 40, "height": 60, "boxes": []}
    (tmp_path / "boxes.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=rf"boxes.jsonl:2: .*{message}"):
        read_people(tmp_path)


def test_splits_are_disjoint_and_the_test_split_is_the_last_hundred(people_dir: Path) -> None:
    photos = read_people(people_dir)
    sizes = {name: len(in_split(photos, name)) for name in SPLITS}
    assert sizes == {"train": 650, "val": 50, "test": 100}
    assert [p.number for p in in_split(photos, "test")] == list(range(701, 801))
    assert split_of(700) == "val" and split_of(701) == "test"
    with pytest.raises(ValueError):
        split_of(801)


def _evaluate_people(people_dir: Path) -> dict[str, dict[str, float]]:
    from typer.testing import CliRunner

    from cli.detector import detector_app
    from lookalike.packaged import garment_yolo_onnx

    args = ["evaluate-people", str(garment_yolo_onnx()), "--people-dir", str(people_dir), "--split", "val"]
    result = CliRunner().invoke(detector_app, args)
    assert result.exit_code == 0, result.output
    start = 0 if result.output.startswith("{") else result.output.index("\n{") + 1
    report, _ = json.JSONDecoder().raw_decode(result.output, start)
    return report


def test_evaluate_people_scores_the_shipped_detector_with_the_service_settings(
    people_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOKALIKE_DETECTOR__ENGINE", "onnxruntime")
    monkeypatch.setenv("LOOKALIKE_DETECTOR__PRECISION", "fp32")
    served = _evaluate_people(people_dir)["all"]
    assert served["truth"] == 207  # the val photos 0651-0700, boxes the label map keeps
    assert served["recall"] >= 0.72 and served["precision"] >= 0.62  # v6: 0.758 / 0.671
    monkeypatch.setenv("LOOKALIKE_DETECTOR__MIN_BOX_FRACTION", "0.2")  # the search's region rules apply
    assert _evaluate_people(people_dir)["all"]["recall"] < served["recall"] - 0.2
