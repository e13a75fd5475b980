"""The screenshot composer: its boxes are the ground truth of detector and recall benchmarks."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from evaluation.synth.screenshot import compose_screenshot, compose_screenshot_full, compose_screenshot_jpeg

MAGENTA = (255, 0, 255)
SIZE = (585, 1266)  # half a phone screen keeps the tests fast


def _magenta_mask(img: Image.Image) -> np.ndarray:
    a = np.asarray(img, dtype=np.int16)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return (r > 150) & (b > 150) & (g < 90)


def _solid(size: tuple[int, int], colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.mark.parametrize("seed", range(8))
def test_each_box_holds_its_pasted_product_tightly(seed: int) -> None:
    rng = random.Random(seed)
    n = 1 + seed % 3
    products = [_solid((200 + 40 * i, 260), MAGENTA) for i in range(n)]
    img, boxes = compose_screenshot(products, rng, size=SIZE)
    assert img.size == SIZE and img.mode == "RGB"
    assert len(boxes) == n
    mask = _magenta_mask(img)
    ys, xs = np.nonzero(mask)
    inside = np.zeros(len(xs), dtype=bool)
    slack = 4  # JPEG blocks smear colour a few pixels
    for b in boxes:
        assert 0 <= b.x1 < b.x2 <= SIZE[0] and 0 <= b.y1 < b.y2 <= SIZE[1]
        inside |= (xs >= b.x1 - slack) & (xs < b.x2 + slack) & (ys >= b.y1 - slack) & (ys < b.y2 + slack)
        # Tight: the product colour reaches every side of its box and fills most of it.
        x1, y1, x2, y2 = (int(v) for v in b.as_list())
        sub = mask[y1:y2, x1:x2]
        assert sub.mean() > 0.7
        edge = 6
        assert sub[:edge].any() and sub[-edge:].any() and sub[:, :edge].any() and sub[:, -edge:].any()
    assert inside.all(), f"{(~inside).sum()} product pixels lie outside every box"
    for a in range(n):  # products never overlap each other
        for c in range(a + 1, n):
            assert boxes[a].iou(boxes[c]) == 0.0


def test_same_seed_same_screenshot_different_seed_different() -> None:
    photo = Image.linear_gradient("L").convert("RGB").resize((180, 240))
    a, boxes_a = compose_screenshot([photo, photo], random.Random(7), size=SIZE)
    b, boxes_b = compose_screenshot([photo, photo], random.Random(7), size=SIZE)
    c, boxes_c = compose_screenshot([photo, photo], random.Random(8), size=SIZE)
    assert boxes_a == boxes_b and a.tobytes() == b.tobytes()
    assert boxes_a != boxes_c or a.tobytes() != c.tobytes()


def test_distractor_photos_appear_but_stay_outside_product_boxes() -> None:
    product = _solid((200, 260), MAGENTA)
    green = _solid((300, 300), (0, 255, 0))
    seen = False
    for seed in range(6):
        img, boxes = compose_screenshot([product], random.Random(seed), size=SIZE, distractors=[green])
        a = np.asarray(img, dtype=np.int16)
        gmask = (a[..., 1] > 200) & (a[..., 0] < 60) & (a[..., 2] < 60)
        seen |= bool(gmask.any())
        b = boxes[0]
        assert not gmask[int(b.y1) + 4 : int(b.y2) - 4, int(b.x1) + 4 : int(b.x2) - 4].any()
    assert seen


def test_rejects_wrong_product_count() -> None:
    with pytest.raises(ValueError, match="1 to 3"):
        compose_screenshot([], random.Random(0))
    with pytest.raises(ValueError, match="1 to 3"):
        compose_screenshot([_solid((10, 10), MAGENTA)] * 4, random.Random(0))


def test_jpeg_bytes_are_the_same_screenshot() -> None:
    photo = Image.linear_gradient("L").convert("RGB").resize((180, 240))
    img, boxes = compose_screenshot([photo], random.Random(3), size=SIZE)
    data, boxes_b = compose_screenshot_jpeg([photo], random.Random(3), size=SIZE)
    assert data[:2] == b"\xff\xd8" and boxes == boxes_b
    assert Image.open(io.BytesIO(data)).convert("RGB").tobytes() == img.tobytes()


def test_ignore_boxes_are_exactly_the_pasted_distractor_photos() -> None:
    product = _solid((200, 260), MAGENTA)
    green = _solid((300, 300), (0, 255, 0))
    found = 0
    for seed in range(8):
        shot = compose_screenshot_full(
            [product, product], random.Random(seed), size=SIZE, distractors=[green]
        )
        data, boxes = compose_screenshot_jpeg(
            [product, product], random.Random(seed), size=SIZE, distractors=[green]
        )
        assert shot.jpeg == data and shot.boxes == boxes  # same pixels, same rng use as before
        img = Image.open(io.BytesIO(shot.jpeg)).convert("RGB")
        a = np.asarray(img, dtype=np.int16)
        gmask = (a[..., 1] > 200) & (a[..., 0] < 60) & (a[..., 2] < 60)
        covered = np.zeros_like(gmask)
        for ig in shot.ignore:
            found += 1
            assert 0 <= ig.x1 < ig.x2 <= SIZE[0] and 0 <= ig.y1 < ig.y2 <= SIZE[1]
            assert all(ig.iou(b) == 0.0 for b in shot.boxes)
            x1, y1, x2, y2 = (int(v) for v in ig.as_list())
            assert gmask[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].mean() > 0.99  # filled with the distractor
            covered[max(0, y1 - 4) : y2 + 4, max(0, x1 - 4) : x2 + 4] = True
        # A green accent icon can leave a stray JPEG pixel in the mask; a missed photo would be thousands.
        assert (gmask & ~covered).sum() < 10, "distractor pixels outside every ignore box"
    assert found > 0


def test_no_distractors_no_ignore_boxes() -> None:
    shot = compose_screenshot_full([_solid((200, 260), MAGENTA)], random.Random(2), size=SIZE)
    assert shot.ignore == []
