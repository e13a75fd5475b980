"""Whole-image augmentations that move boxes with the pixels: photo of a screen, photometric noise."""

from __future__ import annotations

import io
import random

import cv2
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from detector.training.draw import Label


def photo_of_screen(
    img: Image.Image, labels: list[Label], rng: random.Random, scenery: Image.Image
) -> tuple[Image.Image, list[Label]]:
    """The screen photographed by another phone: perspective, a room behind it, glare, blur.

    Boxes become the bounding box of each warped box's corners.
    """
    w, h = img.size
    out_w, out_h = w, h
    margin = rng.uniform(0.02, 0.15)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jit = [(rng.uniform(-1, 1) * margin * 0.6, rng.uniform(-1, 1) * margin * 0.6) for _ in range(4)]
    base = np.array(
        [[margin, margin], [1 - margin, margin], [1 - margin, 1 - margin], [margin, 1 - margin]],
        dtype=np.float32,
    )
    dst = np.array(
        [[(bx + jx) * out_w, (by + jy) * out_h] for (bx, by), (jx, jy) in zip(base, jit, strict=True)],
        dtype=np.float32,
    )
    m = cv2.getPerspectiveTransform(src, dst)
    room = np.asarray(scenery.convert("RGB").resize((out_w, out_h)).filter(ImageFilter.GaussianBlur(6)))
    room = (room * rng.uniform(0.3, 0.8)).astype(np.uint8)
    warped = cv2.warpPerspective(np.asarray(img), m, (out_w, out_h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (out_w, out_h))[..., None] / 255.0
    arr = warped * mask + room * (1 - mask)
    # glare: a soft bright blob
    gx, gy = rng.uniform(0, out_w), rng.uniform(0, out_h)
    yy, xx = np.mgrid[0:out_h, 0:out_w]
    sigma = rng.uniform(0.15, 0.5) * max(out_w, out_h)
    glare = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * sigma**2))[..., None] * rng.uniform(0.1, 0.5)
    arr = arr * (1 - glare) + 255 * glare
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    moved: list[Label] = []
    for lb in labels:
        pts = np.array(
            [[[lb.x1, lb.y1]], [[lb.x2, lb.y1]], [[lb.x2, lb.y2]], [[lb.x1, lb.y2]]], dtype=np.float32
        )
        q = cv2.perspectiveTransform(pts, m).reshape(-1, 2)
        moved.append(
            Label(
                float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()), lb.cls
            )
        )
    return out, moved


def photometric(img: Image.Image, rng: random.Random) -> Image.Image:
    """Colour/contrast/brightness jitter, optional blur and noise, and a JPEG round trip."""
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.75, 1.25))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.75, 1.25))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.6, 1.4))
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.2:
        arr = np.asarray(img).astype(np.int16)
        noise = np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(2, 8), arr.shape)
        img = Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=rng.randint(35, 95))
    buf.seek(0)
    return Image.open(buf).convert("RGB")
