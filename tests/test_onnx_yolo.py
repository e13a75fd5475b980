"""The ONNX Runtime YOLO path gives the boxes ultralytics' predictor gives, for the same weights."""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector import load_detector
from detector.onnx_yolo import Letterbox, OnnxYoloDetector
from detector.yolo import YoloDetector
from lookalike.imaging import decode_image
from lookalike.packaged import garment_yolo_onnx, garment_yolo_side
from lookalike.pixel_arrays import rgb_of, rgbx_or_rgb
from lookalike.settings import DetectorSettings
from lookalike.types import DecodedImage, Region
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
    with pytest.raises(ValueError, match=r"needs \.onnx weights"):
        load_detector(DetectorSettings(spec=f"yolo:{tmp_path / 'best.pt'}", runtime="onnx"))


def assert_same_regions(got: list[Region], want: list[Region]) -> int:
    assert len(got) == len(want), (got, want)
    for g, w in zip(sorted(got, key=lambda r: -r.score), sorted(want, key=lambda r: -r.score), strict=True):
        assert g.category == w.category
        assert abs(g.score - w.score) < 0.02
        assert g.box.iou(w.box) > 0.97
    return len(got)


@pytest.mark.parametrize("spec", ["garment-yolo", "nudenet"])
def test_boxes_match_ultralytics_predict_on_real_screenshots(spec: str) -> None:
    low = 0.05  # low enough that nudenet finds covered body parts on catalog photos too
    ours = load_detector(DetectorSettings(spec=spec, confidence=low, rect_inputs=False))
    reference = load_detector(DetectorSettings(spec=spec, confidence=low, runtime="ultralytics"))
    images = screenshots(4) + [decode_image(p.read_bytes()) for p in clothing_photos(4)]
    compared = 0
    for image in images:
        compared += assert_same_regions(ours.detect([image])[0], reference.detect([image])[0])
    assert compared >= 3


def test_rectangular_inputs_match_ultralytics_predicting_with_the_checkpoint(tmp_path: Path) -> None:
    """ultralytics runs a .pt at the minimal rectangle too: our static rect exports must agree."""
    minimal = DetectorSettings(spec="garment-yolo", rect_margin_strides=0, category_map={})
    ours = load_detector(minimal, export_dir=tmp_path)
    assert isinstance(ours, OnnxYoloDetector)
    checkpoint = garment_yolo_onnx().with_suffix(".pt")
    side = garment_yolo_side()
    reference = load_detector(DetectorSettings(spec=f"yolo:{checkpoint}", imgsz=side, confidence=0.15))
    compared = 0
    for image in screenshots(4):
        compared += assert_same_regions(ours.detect([image])[0], reference.detect([image])[0])
    assert compared >= 4
    exported = sorted(p.name for p in tmp_path.glob("yolo-*.onnx"))
    phone = Letterbox(side, minimal=True).shape(side, round(side * 1170 / 2532))  # 320x160, 384x192
    assert any(f"-{phone[0]}x{phone[1]}-" in name for name in exported), exported


def test_a_margin_of_one_stride_widens_the_rectangle_but_never_past_the_square() -> None:
    portrait = np.zeros((2532, 1170, 3), np.uint8)
    assert Letterbox(320, minimal=True)(portrait)[0].shape[:2] == (320, 160)
    assert Letterbox(320, minimal=True, margin_strides=1)(portrait)[0].shape[:2] == (320, 192)
    assert Letterbox(320, minimal=True, margin_strides=9)(portrait)[0].shape[:2] == (320, 320)
    assert Letterbox(384, minimal=True)(portrait)[0].shape[:2] == (384, 192)  # 177 px of content
    assert Letterbox(384, minimal=True, margin_strides=1)(portrait)[0].shape[:2] == (384, 224)
    assert Letterbox(320, minimal=True, margin_strides=1)(np.zeros((500, 500, 3), np.uint8))[0].shape[:2] == (
        320,
        320,
    )


def test_without_a_usable_checkpoint_every_image_runs_the_square_graph(tmp_path: Path) -> None:
    onnx = tmp_path / "best.onnx"
    shutil.copyfile(garment_yolo_onnx(), onnx)
    alone = OnnxYoloDetector(onnx, confidence=0.15, export_dir=tmp_path / "cache")
    onnx.with_suffix(".pt").write_bytes(b"not a checkpoint")
    broken = OnnxYoloDetector(onnx, confidence=0.15, export_dir=tmp_path / "cache")
    square = OnnxYoloDetector(onnx, confidence=0.15, rect_inputs=False)
    for image in screenshots(2):
        want = square.detect([image])[0]
        assert_same_regions(alone.detect([image])[0], want)
        assert_same_regions(broken.detect([image])[0], want)  # a failed export falls back, loudly


def test_letterbox_keeps_the_aspect_ratio_and_centres_with_grey() -> None:
    tall = np.full((2532, 1170, 3), 255, np.uint8)
    padded, (gx, gy, left, top) = Letterbox(320)(tall)
    assert padded.shape == (320, 320, 3)
    assert top == 0 and left == round((320 - 148) / 2 - 0.1)
    assert abs(gx - 148 / 1170) < 1e-9 and abs(gy - 320 / 2532) < 1e-9
    assert (padded[:, 0] == 114).all() and (padded[160, 160] == 255).all()


@pytest.mark.parametrize(("width", "height"), [(585, 1266), (1266, 585), (301, 229), (120, 90), (320, 320)])
@pytest.mark.parametrize("minimal", [True, False])
def test_the_letterbox_of_the_rgbx_view_equals_the_letterbox_of_rgb(
    width: int, height: int, minimal: bool
) -> None:
    """The detector letterboxes Pillow's own RGBX block (no 2 MB repack): the same input, bit for bit,
    downscaled, upscaled or kept."""
    noise = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), np.uint8)
    image = Image.fromarray(noise)
    rgbx = rgbx_or_rgb(image)
    assert rgbx.shape == (height, width, 4) and not rgbx.flags.writeable  # a view, not a copy
    assert np.array_equal(rgb_of(rgbx), noise)
    box = Letterbox(320, minimal=minimal, margin_strides=1 if minimal else 0)
    (got, got_geometry), (want, want_geometry) = box(rgbx), box(noise)
    assert got_geometry == want_geometry
    assert got.shape == want.shape and np.array_equal(got, want)


def test_images_pillow_cannot_hand_out_in_one_block_or_in_rgb_are_copied_to_rgb() -> None:
    big = Image.new("RGB", (4200, 4200), (9, 8, 7))  # rows over several of Pillow's blocks
    grey = Image.new("L", (40, 30), 77)
    assert rgbx_or_rgb(big).shape == (4200, 4200, 3) and (rgbx_or_rgb(big)[-1, -1] == (9, 8, 7)).all()
    assert rgbx_or_rgb(grey).shape == (30, 40, 3) and (rgbx_or_rgb(grey) == 77).all()


def test_a_batch_returns_one_region_list_per_image_and_none_for_nothing() -> None:
    detector = load_detector(DetectorSettings(spec="garment-yolo"))
    blank = decode_image(_png(Image.new("RGB", (400, 300), (240, 240, 240))))
    images = [*screenshots(2), blank]
    results = detector.detect(images)
    assert len(results) == 3 and results[2] == []
    assert detector.detect([]) == []


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_extreme_aspect_ratios_get_their_own_shape_and_boxes_stay_inside(tmp_path: Path) -> None:
    detector = OnnxYoloDetector(garment_yolo_onnx(), confidence=0.01, export_dir=tmp_path)
    strip = decode_image(_png(Image.new("RGB", (60, 1800), (200, 30, 30))))
    banner = decode_image(_png(Image.new("RGB", (2400, 90), (30, 30, 200))))
    side = garment_yolo_side()
    assert detector.input_shape(60, 1800) == (side, 64)  # 11-13 px of content, padded to 2 strides
    assert detector.input_shape(2400, 90) == (64, side)
    for image in (strip, banner):
        for region in detector.detect([image])[0]:
            b = region.box
            assert 0 <= b.x1 <= b.x2 <= image.width and 0 <= b.y1 <= b.y2 <= image.height
