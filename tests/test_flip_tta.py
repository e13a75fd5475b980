"""Flip test-time augmentation: a mirrored photo gives mirrored boxes, and the two passes' boxes
are fused by the documented rule (twins merge, a box one pass alone sees keeps half its score)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from detector import GARMENT_YOLO_CONFIDENCE, garment_yolo_defaults, load_detector
from detector.flip_tta import fuse, mirror, unmirror
from detector.onnx_yolo import OnnxYoloDetector
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings
from lookalike.types import Box, DecodedImage, Region
from tests.images import SHARED, encode

PEOPLE = [SHARED / "data" / "people" / "images" / f"{n:04d}.jpg" for n in (651, 655, 660)]


def det(boxes: list[list[float]], scores: list[float], classes: list[int]) -> tuple[np.ndarray, ...]:
    return (
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(scores, np.float32),
        np.asarray(classes, np.int64),
    )


def test_twins_merge_into_their_score_weighted_box_with_the_mean_score() -> None:
    boxes, scores, classes = fuse(
        det([[10, 10, 50, 90]], [0.3], [2]),
        det([[14, 10, 54, 90]], [0.1], [0]),
        confidence=0.13,
        iou=0.5,
        agnostic=True,
    )
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], [11, 10, 51, 90], atol=1e-4)  # (0.3 * 10 + 0.1 * 14) / 0.4
    assert scores[0] == pytest.approx(0.2)
    assert classes[0] == 2  # the better twin's class


def test_a_box_only_one_pass_sees_keeps_half_its_score() -> None:
    straight = det([[10, 10, 50, 90], [200, 10, 240, 60]], [0.4, 0.24], [0, 1])
    boxes, scores, _ = fuse(straight, det([], [], []), confidence=0.13, iou=0.5, agnostic=True)
    assert len(boxes) == 1  # 0.24 / 2 is under the confidence
    np.testing.assert_allclose(boxes[0], [10, 10, 50, 90])
    assert scores[0] == pytest.approx(0.2)


def test_separate_objects_stay_separate_and_classes_keep_apart_without_agnostic_nms() -> None:
    straight = det([[10, 10, 50, 90], [60, 10, 100, 90]], [0.5, 0.4], [0, 0])
    mirrored = det([[11, 10, 51, 90], [61, 10, 101, 90]], [0.5, 0.4], [0, 1])
    boxes, _, _ = fuse(straight, mirrored, confidence=0.13, iou=0.5, agnostic=True)
    assert len(boxes) == 2
    boxes, scores, classes = fuse(straight, mirrored, confidence=0.13, iou=0.5, agnostic=False)
    assert sorted(classes.tolist()) == [0, 0, 1]  # the class-1 box is no twin of the class-0 one
    assert scores.max() == pytest.approx(0.5)


def test_mirroring_the_input_and_back_restores_the_boxes() -> None:
    padded = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    assert (mirror(padded)[:, 0] == padded[:, -1]).all()
    boxes = np.asarray([[1.0, 2.0, 3.5, 4.0]], np.float32)
    np.testing.assert_allclose(unmirror(unmirror(boxes, 320), 320), boxes)
    np.testing.assert_allclose(unmirror(boxes, 320), [[316.5, 2.0, 319.0, 4.0]])


def mirrored(path: Path) -> tuple[DecodedImage, DecodedImage]:
    """A photo and its mirror image, at a size the letterbox pads equally left and right (an odd
    padding would put the mirror's content a pixel off, and a borderline box may then differ)."""
    img = Image.open(path).convert("RGB").resize((336, 512))
    return decode_image(encode(img, "PNG")), decode_image(encode(ImageOps.mirror(img), "PNG"))


def partners(regions: list[Region], others: list[Region], width: int) -> int:
    """How many confident ``regions`` have their mirror image among ``others`` (same class and score)."""
    found = 0
    for region in (r for r in regions if r.score >= CLEAR):
        box = Box(width - region.box.x2, region.box.y1, width - region.box.x1, region.box.y2)
        twin = max(others, key=lambda o: o.box.iou(box))
        assert twin.box.iou(box) > 0.9 and twin.category == region.category, (region, twin)
        assert twin.score == pytest.approx(region.score, abs=0.03)
        found += 1
    return found


CLEAR = 0.2
"""Boxes this far above the confidence: a pixel of letterbox padding cannot make or break them."""


@pytest.mark.parametrize("rect_inputs", [True, False])
def test_a_mirrored_photo_gives_the_mirrored_boxes(rect_inputs: bool, tmp_path: Path) -> None:
    settings = DetectorSettings(spec="garment-yolo", flip_tta=True, rect_inputs=rect_inputs)
    detector = load_detector(settings, export_dir=tmp_path)
    assert isinstance(detector, OnnxYoloDetector) and detector.flip
    compared = 0
    for path in PEOPLE:
        photo, flipped = mirrored(path)
        got, back = detector.detect([photo, flipped])
        compared += partners(got, back, photo.width) + partners(back, got, photo.width)
    assert compared >= 12


def test_flip_tta_finds_the_garments_a_single_pass_finds_on_a_person() -> None:
    plain = load_detector(DetectorSettings(spec="garment-yolo", flip_tta=False))
    both = load_detector(DetectorSettings(spec="garment-yolo", flip_tta=True))
    photo, _ = mirrored(PEOPLE[0])
    strong = [r for r in plain.detect([photo])[0] if r.score > 0.5]
    fused = both.detect([photo])[0]
    assert strong
    for region in strong:  # a garment both passes see clearly survives the fusion
        assert max(region.box.iou(f.box) for f in fused) > 0.8


def test_garment_yolo_has_a_confidence_of_its_own_with_flip_tta() -> None:
    assert garment_yolo_defaults(DetectorSettings(flip_tta=True)) == (True, GARMENT_YOLO_CONFIDENCE[True])
    assert garment_yolo_defaults(DetectorSettings(flip_tta=False)) == (False, GARMENT_YOLO_CONFIDENCE[False])
    assert garment_yolo_defaults(DetectorSettings(flip_tta=True, confidence=0.3)) == (True, 0.3)


@pytest.mark.parametrize("spec", ["coco", "none", "blocks"])
def test_flip_tta_on_a_detector_that_cannot_run_it_is_an_error(spec: str) -> None:
    with pytest.raises(ValueError, match="flip_tta needs a YOLO detector"):
        load_detector(DetectorSettings(spec=spec, flip_tta=True))


def test_ultralytics_predictor_refuses_flip_tta() -> None:
    with pytest.raises(ValueError, match=r"flip_tta runs \.onnx weights"):
        load_detector(DetectorSettings(spec="garment-yolo", runtime="ultralytics", flip_tta=True))


def raw_outputs(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """garment-yolo's raw output on a photo's square letterbox and on its mirror."""
    import onnxruntime as ort

    from detector.onnx_yolo import Letterbox
    from lookalike.packaged import garment_yolo_onnx, garment_yolo_side

    session = ort.InferenceSession(str(garment_yolo_onnx()), providers=["CPUExecutionProvider"])
    padded, _ = Letterbox(garment_yolo_side())(np.asarray(Image.open(path).convert("RGB")))
    name = session.get_inputs()[0].name
    out = [
        session.run(None, {name: (x.transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)})[0][0]
        for x in (padded, mirror(padded))
    ]
    return out[0], out[1], padded.shape[1]


def test_the_triton_pipeline_fuses_the_passes_as_the_detector_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """triton_repo/models/pipeline.py restates the fusion in numpy: both give the same boxes.

    The pipeline module imports Triton's backend utilities, which only exist inside Triton; the
    fusion does not use them, so an empty module stands in for that import."""
    import importlib
    import sys
    import types

    from detector.onnx_yolo import decode_passes

    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("pb_utils"))
    monkeypatch.delitem(sys.modules, "triton_repo.models.pipeline", raising=False)
    pipeline = importlib.import_module("triton_repo.models.pipeline")
    monkeypatch.setitem(sys.modules, "triton_repo.models.pipeline", pipeline)  # gone after the test
    compared = 0
    for path in PEOPLE:
        raw, flipped, width = raw_outputs(path)
        for agnostic in (True, False):
            want = decode_passes(raw, flipped, width, confidence=0.13, iou=0.5, agnostic=agnostic)
            got = pipeline.fuse_flip(raw, flipped, width, 0.13, 0.5, agnostic)
            assert len(got[0]) == len(want[0])
            np.testing.assert_allclose(got[0], want[0], atol=1e-3)
            np.testing.assert_allclose(got[1], want[1], atol=1e-6)
            assert (got[2] == want[2]).all()
            compared += len(want[0])
    assert compared >= 6
