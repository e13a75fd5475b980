"""Drawing primitives for composed training screenshots: UI chrome, text, icons, pasted photos."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
MIN_VISIBLE = 0.35  # a box cut to less than this share of its pasted area is not labelled
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")
_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ter",
    "sun",
    "va",
    "ri",
    "on",
    "de",
    "la",
    "ex",
    "pro",
    "max",
    "li",
    "no",
    "fa",
)


@dataclass(frozen=True, slots=True)
class Label:
    """A ground-truth box in pixels (x1, y1, x2, y2) and its detector class index."""

    x1: float
    y1: float
    x2: float
    y2: float
    cls: int

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def clipped(self, width: int, height: int) -> Label:
        return Label(
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
            min(max(self.x2, 0.0), width),
            min(max(self.y2, 0.0), height),
            self.cls,
        )


@lru_cache(maxsize=256)
def font(size: int, style: int = 0) -> Font:
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / _FONT_FILES[style % len(_FONT_FILES)]
    try:
        return ImageFont.truetype(str(path), max(6, size))
    except OSError:
        return ImageFont.load_default(max(6, size))


def words(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3)))
        out.append(w.capitalize() if rng.random() < 0.3 else w)
    return " ".join(out)


def price(rng: random.Random) -> str:
    value = rng.choice((rng.randint(5, 99) + rng.choice((0.0, 0.99, 0.5)), float(rng.randint(100, 2999))))
    fmt = rng.choice(("${:.2f}", "{:.0f} €", "£{:.2f}", "{:.0f} kr", "USD {:.0f}"))
    return fmt.format(value)


def jitter(rng: random.Random, c: RGB, amount: int) -> RGB:
    r, g, b = (min(255, max(0, v + rng.randint(-amount, amount))) for v in c)
    return (r, g, b)


def random_colour(rng: random.Random) -> RGB:
    return (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))


@dataclass(frozen=True, slots=True)
class Palette:
    bg: RGB
    card: RGB
    text: RGB
    muted: RGB
    accent: RGB

    @staticmethod
    def pick(rng: random.Random) -> Palette:
        accent = (rng.randint(0, 230), rng.randint(0, 230), rng.randint(0, 230))
        if rng.random() < 0.7:
            bg = jitter(rng, (246, 246, 246), 9)
            card = (255, 255, 255) if rng.random() < 0.7 else jitter(rng, (236, 236, 236), 8)
            return Palette(bg, card, jitter(rng, (20, 20, 20), 15), jitter(rng, (120, 120, 120), 20), accent)
        bg = jitter(rng, (14, 14, 16), 12)
        card = jitter(rng, (32, 32, 36), 10)
        return Palette(bg, card, jitter(rng, (235, 235, 235), 15), jitter(rng, (150, 150, 150), 20), accent)


def text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], s: str, size: int, fill: RGB, style: int = 0
) -> int:
    """Draws ``s`` and returns the height it used."""
    draw.text(xy, s, font=font(size, style), fill=fill)
    return int(size * 1.3)


def icon(draw: ImageDraw.ImageDraw, rng: random.Random, cx: float, cy: float, r: float, fill: RGB) -> None:
    """One of a few generic UI glyphs: circle, ring, heart-ish, hamburger, star-ish, square."""
    kind = rng.randrange(6)
    w = max(1, int(r / 4))
    if kind == 0:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif kind == 1:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=w)
    elif kind == 2:
        draw.ellipse((cx - r, cy - r * 0.8, cx, cy + r * 0.1), outline=fill, width=w)
        draw.ellipse((cx, cy - r * 0.8, cx + r, cy + r * 0.1), outline=fill, width=w)
        draw.line((cx - r, cy - r * 0.2, cx, cy + r, cx + r, cy - r * 0.2), fill=fill, width=w)
    elif kind == 3:
        for dy in (-r * 0.6, 0, r * 0.6):
            draw.line((cx - r, cy + dy, cx + r, cy + dy), fill=fill, width=w)
    elif kind == 4:
        pts = [
            (cx, cy - r),
            (cx + r * 0.3, cy - r * 0.2),
            (cx + r, cy - r * 0.2),
            (cx + r * 0.4, cy + r * 0.3),
        ]
        pts += [
            (cx + r * 0.6, cy + r),
            (cx, cy + r * 0.5),
            (cx - r * 0.6, cy + r),
            (cx - r * 0.4, cy + r * 0.3),
        ]
        pts += [(cx - r, cy - r * 0.2), (cx - r * 0.3, cy - r * 0.2)]
        draw.polygon(pts, fill=fill)
    else:
        draw.rounded_rectangle((cx - r, cy - r, cx + r, cy + r), radius=r / 3, outline=fill, width=w)


def status_bar(draw: ImageDraw.ImageDraw, rng: random.Random, width: int, h: int, fg: RGB) -> None:
    size = max(7, int(h * 0.5))
    text(draw, (h * 0.6, h * 0.2), f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}", size, fg, 1)
    x = width - h * 0.6
    for _ in range(3):
        x -= size * 1.3
        draw.rectangle((x, h * 0.3, x + size, h * 0.3 + size * 0.7), fill=fg)


def fit_cover(photo: Image.Image, w: int, h: int, rng: random.Random) -> Image.Image:
    """Scale to fill ``w x h`` and crop the overflow (as app grids do); keeps the crop position random."""
    w, h = max(1, w), max(1, h)
    scale = max(w / photo.width, h / photo.height)
    rw, rh = max(w, round(photo.width * scale)), max(h, round(photo.height * scale))
    big = photo.resize((rw, rh), Image.Resampling.BILINEAR)
    x0, y0 = rng.randint(0, rw - w), rng.randint(0, rh - h)
    return big.crop((x0, y0, x0 + w, y0 + h))


def fit_contain(photo: Image.Image, w: int, h: int) -> Image.Image:
    scale = min(w / photo.width, h / photo.height)
    return photo.resize((max(1, round(photo.width * scale)), max(1, round(photo.height * scale))))


def paste(canvas: Image.Image, photo: Image.Image, x: int, y: int, cls: int) -> Label:
    canvas.paste(photo, (x, y))
    return Label(x, y, x + photo.width, y + photo.height, cls)
