"""The views a screenshot makes of a product photo: the training augmentations of the product embedder.

A shopper's screenshot shows the product cropped and rescaled, at an angle, blurred, JPEG-compressed,
colour-shifted by a filter or a screen, framed by app chrome and on someone else's background. Each
view below draws a few of those from a seeded ``random.Random``, so a feature cache is reproducible.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

GREYS = ((255, 255, 255), (245, 245, 245), (18, 18, 18), (230, 232, 236))


def screenshot_view(img: Image.Image, rng: random.Random, size: int = 256) -> Image.Image:
    """One random view of ``img`` (RGB, about ``size`` px on its long side)."""
    img = img.convert("RGB")
    img = _random_crop(img, rng)
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    if rng.random() < 0.3:
        img = _perspective(img, rng)
    img = _colour(img, rng)
    if rng.random() < 0.4:
        img = _on_background(img, rng)
    if rng.random() < 0.3:
        img = _chrome(img, rng)
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.6)))
    scale = size / max(img.size)
    img = img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))))
    if rng.random() < 0.6:
        img = _jpeg(img, rng.randint(35, 90))
    return img


def _random_crop(img: Image.Image, rng: random.Random) -> Image.Image:
    """A crop keeping 35-100% of the area at an aspect ratio of 3:4 to 4:3 (RandomResizedCrop's idea)."""
    w, h = img.size
    area = rng.uniform(0.35, 1.0) * w * h
    ratio = rng.uniform(0.75, 1.33)
    cw = min(w, max(8, round((area * ratio) ** 0.5)))
    ch = min(h, max(8, round((area / ratio) ** 0.5)))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return img.crop((x, y, x + cw, y + ch))


def _perspective(img: Image.Image, rng: random.Random) -> Image.Image:
    """A photo taken at a slant: each corner pulled in by up to 12% of the side."""
    w, h = img.size
    d = 0.12
    quad = [
        rng.uniform(0, d) * w,
        rng.uniform(0, d) * h,
        rng.uniform(0, d) * w,
        h - rng.uniform(0, d) * h,
        w - rng.uniform(0, d) * w,
        h - rng.uniform(0, d) * h,
        w - rng.uniform(0, d) * w,
        rng.uniform(0, d) * h,
    ]
    fill = rng.choice(GREYS)
    return img.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=fill)


def _colour(img: Image.Image, rng: random.Random) -> Image.Image:
    """Brightness, contrast and saturation each within +-30%; sometimes a warm or cool cast."""
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.7, 1.3))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.7, 1.3))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.6, 1.3))
    if rng.random() < 0.2:
        tint = Image.new("RGB", img.size, (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)))
        img = Image.blend(img, tint, rng.uniform(0.05, 0.15))
    return img


def _on_background(img: Image.Image, rng: random.Random) -> Image.Image:
    """The product smaller, on a plain or two-tone background (a post, a card, a table)."""
    w, h = img.size
    pad = rng.uniform(1.1, 1.6)
    cw, ch = round(w * pad), round(h * pad)
    colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
    canvas = Image.new("RGB", (cw, ch), rng.choice((*GREYS, colour)))
    if rng.random() < 0.5:
        ImageDraw.Draw(canvas).rectangle((0, rng.randint(0, ch), cw, ch), fill=colour)
    canvas.paste(img, (rng.randint(0, cw - w), rng.randint(0, ch - h)))
    return canvas


def _chrome(img: Image.Image, rng: random.Random) -> Image.Image:
    """App chrome over an edge: a bar, a price tag or a heart button, with text-like dashes."""
    img = img.copy()
    w, h = img.size
    draw = ImageDraw.Draw(img)
    bar = rng.randint(h // 14 + 1, h // 6 + 2)
    top = rng.random() < 0.5
    y0 = 0 if top else h - bar
    draw.rectangle((0, y0, w, y0 + bar), fill=rng.choice(GREYS))
    ink = (90, 90, 90)
    x = rng.randint(2, max(3, w // 8))
    while x < w * 0.8:
        length = rng.randint(w // 16 + 1, w // 5 + 2)
        draw.rectangle((x, y0 + bar // 3, x + length, y0 + bar // 3 + max(2, bar // 4)), fill=ink)
        x += length + rng.randint(3, 10)
    if rng.random() < 0.5:
        r = max(4, w // 14)
        cx, cy = rng.randint(r, w - r), rng.randint(r, h - r)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rng.choice(GREYS), outline=ink)
    return img


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


__all__ = ["screenshot_view"]
