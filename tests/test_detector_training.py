"""Training smoke test: one tiny epoch offline yields weights and an ONNX file the search's
``YoloDetector`` loads and runs, with torch on every core; the NudeNet start weights really
load into YOLOv8n."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from detector.training.catalog import CatalogPhoto
from detector.training.classes import GARMENT_CLASS_MAP
from detector.training.dataset import DatasetConfig, make_dataset
from detector.training.init_weights import init_from_onnx
from detector.yolo import YoloDetector
from lookalike.execution import ExecutionPolicy, usable_cores
from lookalike.imaging import decode_image
from lookalike.packaged import nudenet_320n, onnx_input_side

COLOURS = [(200, 30, 40), (30, 160, 60), (40, 60, 200), (220, 180, 20), (120, 40, 160), (20, 160, 170)]
CATEGORIES = ["T-Shirt", "Pants", "Dress", "Shoes", "Hat", "Outwear"]


def _tiny_dataset(tmp_path: Path) -> Path:
    photos = []
    for i in range(12):  # two items per class, so the item-disjoint val split has some
        colour, category = COLOURS[i % 6], CATEGORIES[i % 6]
        img = Image.new("RGB", (120, 160), colour)
        img.paste(Image.new("RGB", (40, 60), (255 - colour[0], 255 - colour[1], 255 - colour[2])), (40, 50))
        path = tmp_path / "photos" / f"p{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path)
        photos.append(CatalogPhoto(f"p{i}", path, category))
    config = DatasetConfig(8, 4, seed=2, max_side=64, val_items=0.5)
    make_dataset(photos, GARMENT_CLASS_MAP, tmp_path / "ds", config)
    return tmp_path / "ds" / "data.yaml"


TRAIN_IN_A_CHILD = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args))
    raise OSError("network disabled in this test")
socket.getaddrinfo = refuse
socket.socket.connect = refuse
import torch
from typer.testing import CliRunner
from detector.training.offline import offline_ultralytics
offline_ultralytics()  # as the CLI does before ultralytics is imported
from ultralytics.utils.callbacks.base import default_callbacks
from cli.detector import detector_app
threads = []
default_callbacks["on_train_batch_end"].append(lambda _trainer: threads.append(torch.get_num_threads()))
result = CliRunner().invoke(detector_app, sys.argv[1:])
outcome = {"exit_code": result.exit_code, "output": result.output, "threads": threads, "attempts": attempts}
print(json.dumps(outcome))
"""


def test_one_epoch_trains_exports_at_the_serving_size_and_loads_in_the_detector(tmp_path: Path) -> None:
    # Trains in a child process, as `lookalike detector train` runs: torch's OpenMP team of a
    # training stays out of the test process. Sockets are refused there, as in `no_network`.
    data = _tiny_dataset(tmp_path)
    ship_to = tmp_path / "models" / "tiny"
    args = ["train", str(data), "--project", str(tmp_path / "runs"), "--name", "smoke", "--epochs", "1"]
    args += ["--imgsz", "64", "--export-imgsz", "96", "--batch", "4", "--workers", "0"]
    args += ["--ship-to", str(ship_to)]
    child = subprocess.run(
        [sys.executable, "-c", TRAIN_IN_A_CHILD, *args],
        env=ExecutionPolicy().child_env(os.environ),
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["exit_code"] == 0, outcome["output"]
    output = outcome["output"]
    report, _ = json.JSONDecoder().raw_decode(output, output.rindex("\n{") + 1)  # warnings may follow it
    assert set(report["metrics"]) == {"mAP50", "mAP50-95", "precision", "recall"}
    assert (ship_to / "best.onnx").stat().st_size > 1_000_000
    assert onnx_input_side(ship_to / "best.onnx") == 96  # trained at 64, exported at the serving size
    assert (ship_to / "best.pt").stat().st_size < (Path(report["best"])).stat().st_size * 1.01
    assert outcome["attempts"] == []
    # ultralytics leaves torch one thread on 2 cores; lookalike gives it every usable core
    assert outcome["threads"] and set(outcome["threads"]) == {usable_cores()}

    buf = io.BytesIO()
    Image.new("RGB", (90, 180), (240, 240, 240)).save(buf, format="PNG")
    image = decode_image(buf.getvalue(), source="blank")
    for weights in (ship_to / "best.onnx", ship_to / "best.pt"):
        detector = YoloDetector(weights, imgsz=96, confidence=0.01, category_map={"top": "T-Shirt"})
        assert list(detector.class_names.values()) == list(GARMENT_CLASS_MAP.classes)
        [regions] = detector.detect([image])
        assert all(0 <= r.box.x1 <= r.box.x2 <= 90 and 0 <= r.box.y1 <= r.box.y2 <= 180 for r in regions)


def test_nudenet_weights_load_into_yolov8n_except_the_class_head() -> None:
    from detector.training.offline import offline_ultralytics

    offline_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=7, verbose=False)
    before = model.state_dict()["model.0.conv.weight"].clone()
    loaded, skipped = init_from_onnx(model, nudenet_320n())
    assert loaded > 60 and skipped == 3  # the three class-logit convs (18 NudeNet classes vs 7)
    assert not model.state_dict()["model.0.conv.weight"].equal(before)


def test_box_scores_match_one_to_one_and_count_negatives(tmp_path: Path) -> None:
    from detector.training.evaluate import greedy_matches, score_folder
    from detector.whole_image import WholeImageDetector
    from lookalike.types import Box

    truth = [Box(0, 0, 10, 10), Box(20, 20, 30, 30)]
    assert greedy_matches(truth, [Box(0, 0, 10, 11), Box(0, 0, 10, 10), Box(50, 50, 60, 60)]) == 1
    assert greedy_matches(truth, [Box(1, 1, 10, 10), Box(20, 20, 29, 31)]) == 2

    photos = [CatalogPhoto("a", tmp_path / "a.png", "Hat"), CatalogPhoto("b", tmp_path / "a.png", "Hat")]
    Image.new("RGB", (50, 50), (10, 200, 10)).save(tmp_path / "a.png")
    make_dataset(
        photos, GARMENT_CLASS_MAP, tmp_path / "neg", DatasetConfig(0, 3, max_side=96, mix={"negative": 1})
    )
    scores = score_folder(WholeImageDetector(), tmp_path / "neg")
    assert scores["all"].as_dict() == {
        "images": 3,
        "truth": 0,
        "detected": 3,
        "matched": 0,
        "recall": 1.0,
        "precision": 0.0,
    }
