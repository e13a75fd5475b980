"""The ONNX Runtime YOLO path gives the boxes ultralytics' predictor gives, for the same weights."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from detector import load_detector
from detector.onnx_yolo import Letterbox, OnnxYoloDetector
from detector.yolo import YoloDetector
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings
from lookalike.types import DecodedImage
from tests.images import clothing_photos


def screenshots(n: int) -> list[DecodedImage]:
    from evaluation.synth.screenshot import compose_screenshot

    photos = clothing_photos(40)
    rng = random.Random(7)
    out = []
    for _ in range(n):
        products = [Image.open(p).convert("RGB") for p in rng.sample(photos, rng.randint(1, 3))]
        shot, _ = compose_screenshot(products, rng)
        buf = io.BytesIO()
        shot.save(buf, "JPEG", quality=88)
        out.append(decode_image(buf.getvalue()))
    return out


def test_auto_runtime_runs_onnx_weights_in_onnxruntime_and_ultralytics_on_request() -> None:
    assert isinstance(load_detector(DetectorSettings(spec="garment-yolo")), OnnxYoloDetector)
    forced = load_detector(DetectorSettings(spec="garment-yolo", runtime="ultralytics"))
    assert isinstance(forced, YoloDetector)


def test_onnx_weights_need_the_onnx_suffix_for_the_onnx_runtime(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="needs .onnx weights"):
        load_detector(DetectorSettings(spec=f"yolo:{tmp_path / 'best.pt'}", runtime="onnx"))


@pytest.mark.parametrize("spec", ["garment-yolo", "nudenet"])
def test_boxes_match_ultralytics_predict_on_real_screenshots(spec: str) -> None:
    low = 0.05  # low enough that nudenet finds covered body parts on catalog photos too
    ours = load_detector(DetectorSettings(spec=spec, confidence=low))
    reference = load_detector(DetectorSettings(spec=spec, confidence=low, runtime="ultralytics"))
    images = screenshots(4) + [decode_image(p.read_bytes()) for p in clothing_photos(4)]
    compared = 0
    for image in images:
        got, want = ours.detect([image])[0], reference.detect([image])[0]
        assert len(got) == len(want), (got, want)
        for g, w in zip(
            sorted(got, key=lambda r: -r.score), sorted(want, key=lambda r: -r.score), strict=True
        ):
            assert g.category == w.category
            assert abs(g.score - w.score) < 0.02
            assert g.box.iou(w.box) > 0.97
            compared += 1
    assert compared >= 3


def test_letterbox_keeps_the_aspect_ratio_and_centres_with_grey() -> None:
    tall = np.full((2532, 1170, 3), 255, np.uint8)
    padded, (gx, gy, left, top) = Letterbox(320)(tall)
    assert padded.shape == (320, 320, 3)
    assert top == 0 and left == round((320 - 148) / 2 - 0.1)
    assert abs(gx - 148 / 1170) < 1e-9 and abs(gy - 320 / 2532) < 1e-9
    assert (padded[:, 0] == 114).all() and (padded[160, 160] == 255).all()


def test_a_batch_returns_one_region_list_per_image_and_none_for_nothing() -> None:
    detector = load_detector(DetectorSettings(spec="garment-yolo"))
    blank = decode_image(_png(Image.new("RGB", (400, 300), (240, 240, 240))))
    images = screenshots(2) + [blank]
    results = detector.detect(images)
    assert len(results) == 3 and results[2] == []
    assert detector.detect([]) == []


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
