"""A shop app's result grid with 6 to 12 product cards on one phone screen, boxes known.

Shopping apps show two or three columns of cards (photo, title, price, heart); a screenshot
of one often holds 6 to 12 products, more than ``compose_screenshot`` (1 to 3) ever places.
Everything random comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from evaluation.synth.screenshot import Screenshot
from lookalike.types import Box

MIN_CARDS, MAX_CARDS = 6, 12


def _font(px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(px)))


def compose_grid(
    products: Sequence[Image.Image], rng: random.Random, *, size: tuple[int, int] = (1170, 2532)
) -> Screenshot:
    """One card per product, in order, all fully on screen; boxes are the pasted photos' bounds."""
    n = len(products)
    if not MIN_CARDS <= n <= MAX_CARDS:
        raise ValueError(f"compose_grid takes {MIN_CARDS} to {MAX_CARDS} products, got {n}")
    width, height = size
    unit = width / 1170
    dark = rng.random() < 0.25
    bg, card_bg, fg = (
        ((18, 18, 18), (36, 36, 40), (235, 235, 235))
        if dark
        else ((246, 246, 246), (255, 255, 255), (20, 20, 20))
    )
    canvas = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(canvas)
    top = int(rng.uniform(260, 360) * unit)
    draw.text(
        (50 * unit, 60 * unit),
        f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}",
        fill=fg,
        font=_font(44 * unit),
    )
    draw.rounded_rectangle(
        (40 * unit, 150 * unit, width - 40 * unit, 240 * unit), radius=45 * unit, fill=card_bg
    )
    draw.text((100 * unit, 175 * unit), "Search", fill=(140, 140, 140), font=_font(40 * unit))
    bottom = height - int(rng.uniform(150, 210) * unit)
    cols = 3 if n > 8 or rng.random() < 0.3 else 2
    rows = math.ceil(n / cols)
    gap = int(rng.uniform(16, 36) * unit)
    card_w = (width - gap * (cols + 1)) // cols
    caption = int(rng.uniform(90, 140) * unit)
    card_h = min(int(card_w * rng.choice((1.25, 1.33, 1.0))) + caption, (bottom - top - gap) // rows - gap)
    photo_h = card_h - caption
    boxes: list[Box] = []
    for i, product in enumerate(products):
        r, c = divmod(i, cols)
        x, y = gap + c * (card_w + gap), top + gap + r * (card_h + gap)
        draw.rounded_rectangle((x, y, x + card_w, y + card_h), radius=int(20 * unit), fill=card_bg)
        photo = product.convert("RGB")
        scale = min(card_w / photo.width, photo_h / photo.height)
        if rng.random() < 0.6:  # cover-cropped to the card, as most shops show it
            scale = max(card_w / photo.width, photo_h / photo.height)
        rw, rh = max(1, round(photo.width * scale)), max(1, round(photo.height * scale))
        shown = photo.resize((rw, rh), Image.Resampling.LANCZOS)
        ox, oy = (rw - card_w) // 2 if rw > card_w else 0, (rh - photo_h) // 2 if rh > photo_h else 0
        shown = shown.crop((ox, oy, ox + min(rw, card_w), oy + min(rh, photo_h)))
        px, py = x + (card_w - shown.width) // 2, y + (photo_h - shown.height) // 2
        canvas.paste(shown, (px, py))
        boxes.append(Box(float(px), float(py), float(px + shown.width), float(py + shown.height)))
        draw.text((x + 16 * unit, y + photo_h + 16 * unit), "Item title", fill=fg, font=_font(32 * unit))
        draw.text(
            (x + 16 * unit, y + photo_h + 56 * unit),
            f"${rng.randint(9, 199)}.{rng.choice(('00', '99'))}",
            fill=fg,
            font=_font(36 * unit),
        )
    draw.rectangle((0, bottom, width, height), fill=card_bg)
    for i in range(5):
        cx = width * (i + 0.5) / 5
        draw.ellipse(
            (cx - 28 * unit, bottom + 40 * unit, cx + 28 * unit, bottom + 96 * unit), outline=fg, width=4
        )
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=rng.randint(60, 92))
    return Screenshot(buf.getvalue(), boxes, [])


__all__ = ["MAX_CARDS", "MIN_CARDS", "compose_grid"]
