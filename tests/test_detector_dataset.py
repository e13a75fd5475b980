"""The detector's training data: boxes sit tightly on the pasted photos, classes map as declared,
held-back evaluation items never appear, negatives have empty labels, and a seed reproduces it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.detector import detector_app
from detector.training.camera import photo_of_screen
from detector.training.catalog import CatalogPhoto, read_clothing_dir
from detector.training.classes import GARMENT_CLASS_MAP, ClassMap, load_class_map
from detector.training.dataset import DatasetConfig, label_items, make_dataset, split_items
from detector.training.draw import Label
from detector.training.exclusions import clothing_benchmark_targets

MAGENTA = (255, 0, 255)


def _magenta_mask(img: Image.Image) -> np.ndarray:
    a = np.asarray(img.convert("RGB")).astype(int)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return (r - g > 90) & (b - g > 90) & (np.abs(r - b) < 60)


def _solid_catalog(tmp_path: Path, n: int, colour: tuple[int, int, int] = MAGENTA) -> list[CatalogPhoto]:
    photos = []
    for i in range(n):
        path = tmp_path / "photos" / f"item{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (240 + 20 * i, 320), colour).save(path)
        photos.append(CatalogPhoto(f"item{i}", path, "T-Shirt" if i % 2 else "Pants"))
    return photos


def _boxes(label_file: Path, width: int, height: int) -> list[tuple[int, float, float, float, float]]:
    out = []
    for line in label_file.read_text().splitlines():
        c, cx, cy, w, h = line.split()
        fx, fy, fw, fh = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
        out.append((int(c), fx - fw / 2, fy - fh / 2, fx + fw / 2, fy + fh / 2))
    return out


@pytest.mark.parametrize("layout", ["grid", "list", "fullscreen"])
def test_label_boxes_cover_the_pasted_photo_tightly(tmp_path: Path, layout: str) -> None:
    config = DatasetConfig(6, 0, seed=7, max_side=320, mix={layout: 1.0}, screen_photo=0.0, augment=False)
    make_dataset(_solid_catalog(tmp_path, 4), GARMENT_CLASS_MAP, tmp_path / "ds", config)
    n_boxes = 0
    for image_file in sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg")):
        img = Image.open(image_file)
        mask = _magenta_mask(img)
        labelled = np.zeros_like(mask)
        for _, x1, y1, x2, y2 in _boxes(
            tmp_path / "ds" / "labels" / "train" / f"{image_file.stem}.txt", *img.size
        ):
            n_boxes += 1
            xa, ya, xb, yb = round(x1), round(y1), round(x2), round(y2)
            inside = mask[ya:yb, xa:xb]
            assert inside.mean() > 0.85, f"{image_file.name}: box {x1, y1, x2, y2} is not on the product"
            # One pixel further out on each side is no longer product (unless it is another product).
            for ring in (mask[ya:yb, max(0, xa - 2)], mask[ya:yb, min(img.width - 1, xb + 1)]):
                assert xa == 0 or xb >= img.width - 1 or ring.mean() < 0.5
            labelled[ya:yb, xa:xb] = True
        # Every visible product pixel is inside some box, except slivers cut off at the screen's edge.
        assert (mask & ~labelled).sum() <= 0.05 * img.width * img.height
    assert n_boxes >= 6


def test_photo_of_screen_moves_boxes_with_the_pixels() -> None:
    canvas = Image.new("RGB", (200, 400), (230, 230, 230))
    canvas.paste(Image.new("RGB", (80, 120), MAGENTA), (60, 150))
    _, [box] = photo_of_screen(
        canvas, [Label(60, 150, 140, 270, 0)], random.Random(3), Image.new("RGB", (50, 50), (90, 90, 90))
    )
    out, [box] = photo_of_screen(
        canvas, [Label(60, 150, 140, 270, 0)], random.Random(3), Image.new("RGB", (50, 50), (90, 90, 90))
    )
    ys, xs = np.nonzero(_magenta_mask(out))
    assert abs(xs.min() - box.x1) <= 3 and abs(xs.max() + 1 - box.x2) <= 3
    assert abs(ys.min() - box.y1) <= 3 and abs(ys.max() + 1 - box.y2) <= 3


def test_garment_class_map_follows_the_clothing_labels() -> None:
    expect = {
        "T-Shirt": "top",
        "Longsleeve": "top",
        "Shirt": "top",
        "Polo": "top",
        "Undershirt": "top",
        "Top": "top",
        "Blouse": "top",
        "Hoodie": "top",
        "Body": "top",
        "Pants": "bottom",
        "Shorts": "bottom",
        "Skirt": "bottom",
        "Dress": "dress",
        "Outwear": "outerwear",
        "Blazer": "outerwear",
        "Shoes": "footwear",
        "Hat": "headwear",
        "Other": "other",
        "Not sure": "other",
        "Skip": None,
    }
    assert {c: GARMENT_CLASS_MAP.class_of(c) for c in expect} == expect
    assert GARMENT_CLASS_MAP.classes == (
        "top",
        "bottom",
        "dress",
        "outerwear",
        "footwear",
        "headwear",
        "other",
        "bag",
    )
    assert GARMENT_CLASS_MAP.index_of("Shoes") == 4


def test_dropped_categories_vanish_and_unmapped_ones_are_named(tmp_path: Path) -> None:
    photos = _solid_catalog(tmp_path, 2)
    skipped = CatalogPhoto("skip", photos[0].path, "Skip")
    assert [i.item_id for i in label_items([*photos, skipped], GARMENT_CLASS_MAP)] == ["item0", "item1"]
    with pytest.raises(ValueError, match="Handbag"):
        label_items([CatalogPhoto("x", photos[0].path, "Handbag")], GARMENT_CLASS_MAP)


def test_a_retailer_class_map_file_replaces_the_garment_map(tmp_path: Path) -> None:
    yaml_file = tmp_path / "map.yaml"
    yaml_file.write_text("classes: [fruit, veg]\ncategories: {Apple: fruit, Leek: veg, Bag: null}\n")
    json_file = tmp_path / "map.json"
    json_file.write_text(json.dumps({"classes": ["fruit"], "categories": {"Apple": "fruit"}}))
    cmap = load_class_map(yaml_file)
    assert (
        cmap.classes == ("fruit", "veg") and cmap.class_of("Leek") == "veg" and cmap.class_of("Bag") is None
    )
    assert load_class_map(json_file).index_of("Apple") == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"classes": ["fruit"], "categories": {"Leek": "veg"}}))
    with pytest.raises(ValueError, match="veg"):
        load_class_map(bad)
    with pytest.raises(ValueError, match="duplicate"):
        ClassMap(("a", "a"), {})


def test_negatives_have_empty_label_files(tmp_path: Path) -> None:
    config = DatasetConfig(5, 2, seed=1, max_side=160, mix={"negative": 1.0})
    summary = make_dataset(_solid_catalog(tmp_path, 4), GARMENT_CLASS_MAP, tmp_path / "ds", config)
    labels = sorted((tmp_path / "ds" / "labels").glob("*/*.txt"))
    assert len(labels) == 7 and all(f.read_text() == "" for f in labels)
    assert summary.negatives == {"train": 5, "val": 2}


def test_train_and_val_never_share_an_item(tmp_path: Path) -> None:
    photos = _solid_catalog(tmp_path, 20)
    train, val = split_items(label_items(photos, GARMENT_CLASS_MAP), 0.25, seed=5)
    assert {i.item_id for i in train}.isdisjoint({i.item_id for i in val})
    assert len(train) + len(val) == 20 and len(val) == 4  # 25% of each class (10 + 10)
    make_dataset(
        photos, GARMENT_CLASS_MAP, tmp_path / "ds", DatasetConfig(6, 3, seed=5, max_side=160, val_items=0.25)
    )
    used = json.loads((tmp_path / "ds" / "items.json").read_text())["used"]
    assert set(used["train"]).isdisjoint(used["val"])


def test_the_same_seed_writes_the_same_dataset(tmp_path: Path) -> None:
    photos = _solid_catalog(tmp_path, 6)
    config = DatasetConfig(4, 1, seed=11, max_side=160)
    for name in ("a", "b"):
        make_dataset(photos, GARMENT_CLASS_MAP, tmp_path / name, config)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) > 10
    for rel in files:
        if rel.name != "data.yaml":  # holds the absolute path
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_evaluation_held_back_items_are_never_used(tmp_path: Path, clothing_dir: Path) -> None:
    targets = clothing_benchmark_targets(clothing_dir)
    assert len(targets) == 200
    everything = read_clothing_dir(clothing_dir)
    pool = [p for p in everything if p.item_id in targets][:30] + [
        p for p in everything if p.item_id not in targets
    ][:30]
    config = DatasetConfig(8, 2, seed=3, max_side=160)
    make_dataset(pool, GARMENT_CLASS_MAP, tmp_path / "with", config)
    used_with = json.loads((tmp_path / "with" / "items.json").read_text())["used"]
    assert targets & {*used_with["train"], *used_with["val"]}, "sanity: the pool does offer held-back items"
    make_dataset(pool, GARMENT_CLASS_MAP, tmp_path / "without", config, exclude_items=targets)
    used = json.loads((tmp_path / "without" / "items.json").read_text())["used"]
    assert used["train"] and not targets & {*used["train"], *used["val"]}


def test_cli_builds_a_dataset_from_a_manifest_and_names_bad_categories(tmp_path: Path) -> None:
    photos = _solid_catalog(tmp_path, 4)
    manifest = tmp_path / "catalog.csv"
    rows = ["item_id,image,category,title"] + [
        f"{p.item_id},photos/{p.path.name},{p.category},x" for p in photos
    ]
    manifest.write_text("\n".join(rows) + "\n")
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("item0\n")
    runner = CliRunner()
    args = ["make-dataset", "--manifest", str(manifest), "--out", str(tmp_path / "ds"), "--train-images", "3"]
    result = runner.invoke(
        detector_app, [*args, "--val-images", "0", "--max-side", "128", "--exclude-items", str(exclude)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["images"] == {"train": 3, "val": 0} and summary["excluded_items"] == 1
    assert (tmp_path / "ds" / "data.yaml").is_file() and len(
        list((tmp_path / "ds" / "images" / "train").glob("*.jpg"))
    ) == 3
    assert "item0" not in json.loads((tmp_path / "ds" / "items.json").read_text())["used"]["train"]

    manifest.write_text(manifest.read_text() + "item9,photos/item0.png,Handbag,x\n")
    bad = runner.invoke(detector_app, [*args, "--out", str(tmp_path / "ds2")])
    assert bad.exit_code == 2 and "Handbag" in bad.output
