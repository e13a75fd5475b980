"""A shop app's product page as a phone screenshot: the photo, then brand, name, price and a caption.

What a shopper screenshots when the words matter: the card prints the brand and the product
name under the photo, a price, and a social caption with a hashtag and an emoji (which must not
reach the text search). Everything random comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from lookalike.types import Box

WHITE = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (110, 110, 110)
CAPTIONS = (
    "#ootd \U0001f525 new in",
    "love this \u2728 #style",
    "#fashion \U0001f60d",
    "dream fit \U0001f49b",
)


@dataclass(frozen=True)
class ProductPage:
    jpeg: bytes
    photo_box: Box


def _font(px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(px)))


def jitter_photo(photo: Image.Image, rng: random.Random, crop: float = 0.85) -> Image.Image:
    """A random crop (``crop``-100% a side), colour and contrast jitter and sometimes a blur."""
    img = photo.convert("RGB")
    w, h = img.size
    cw, ch = max(1, round(w * rng.uniform(crop, 1.0))), max(1, round(h * rng.uniform(crop, 1.0)))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.85, 1.15))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.8, 1.2))
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return img


def compose_product_page(
    photo: Image.Image,
    brand: str,
    title: str,
    price: str,
    rng: random.Random,
    size: tuple[int, int] = (1170, 2532),
) -> ProductPage:
    """The page with ``photo`` (jittered) at the top and its brand, name and price printed under it."""
    width = size[0]
    unit = width / 1170
    shot = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(shot)
    draw.text(
        (80 * unit, 40 * unit),
        f"{rng.randint(7, 11)}:{rng.randint(0, 59):02d}",
        fill=INK,
        font=_font(44 * unit),
    )
    img = jitter_photo(photo, rng)
    side = rng.uniform(0.7, 0.95) * width
    scale = min(side / img.width, 1300 * unit / img.height)
    img = img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))))
    x1 = round((width - img.width) / 2 + rng.uniform(-40, 40) * unit)
    y1 = round(rng.uniform(180, 260) * unit)
    shot.paste(img, (x1, y1))
    y = y1 + img.height + rng.uniform(40, 70) * unit
    left = max(40 * unit, x1)
    draw.text((left, y), brand.upper(), fill=INK, font=_font(rng.uniform(54, 66) * unit))
    y += 90 * unit
    draw.text((left, y), title, fill=INK, font=_font(rng.uniform(46, 56) * unit))
    y += 85 * unit
    draw.text((left, y), price, fill=(190, 20, 20), font=_font(52 * unit))
    y += 110 * unit
    button = (left, y, width - left, y + 110 * unit)
    draw.rounded_rectangle(button, radius=int(20 * unit), fill=INK)
    draw.text((width / 2 - 130 * unit, y + 30 * unit), "Add to bag", fill=WHITE, font=_font(48 * unit))
    y += 170 * unit
    draw.text((left, y), rng.choice(CAPTIONS), fill=MUTED, font=_font(42 * unit))
    buf = io.BytesIO()
    shot.save(buf, "JPEG", quality=rng.randint(75, 92))
    return ProductPage(
        buf.getvalue(), Box(float(x1), float(y1), float(x1 + img.width), float(y1 + img.height))
    )
