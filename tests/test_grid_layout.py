"""The evaluation's shop grid: 6 to 12 cards on one phone screen, each box exactly its photo."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from evaluation.synth.grid import compose_grid

COLOURS = [(255, 0, 255), (0, 200, 0), (0, 0, 255), (255, 140, 0), (0, 200, 200), (200, 0, 0)]


@pytest.mark.parametrize(("n", "seed"), [(6, 0), (8, 1), (12, 2)])
def test_every_card_is_on_screen_and_boxed_tightly(n: int, seed: int) -> None:
    products = [Image.new("RGB", (200 + 10 * i, 260), COLOURS[i % len(COLOURS)]) for i in range(n)]
    shot = compose_grid(products, random.Random(seed))
    img = np.asarray(Image.open(io.BytesIO(shot.jpeg)).convert("RGB")).astype(int)
    assert len(shot.boxes) == n and not shot.ignore
    for i, box in enumerate(shot.boxes):
        assert 0 <= box.x1 < box.x2 <= img.shape[1] and 0 <= box.y1 < box.y2 <= img.shape[0]
        inner = img[round(box.y1) + 3 : round(box.y2) - 3, round(box.x1) + 3 : round(box.x2) - 3]
        assert np.abs(inner - np.array(COLOURS[i % len(COLOURS)])).mean() < 20, f"card {i}"
        for other in shot.boxes[i + 1 :]:
            assert box.iou(other) == 0.0


@pytest.mark.parametrize("n", [5, 13])
def test_grid_takes_six_to_twelve_products(n: int) -> None:
    with pytest.raises(ValueError, match="6 to 12"):
        compose_grid([Image.new("RGB", (50, 50))] * n, random.Random(0))
