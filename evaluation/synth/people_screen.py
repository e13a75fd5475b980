"""Phone screens that show photos of people: the photo as shared, a feed post, a story, a collage,
a shop-the-look page. Each garment's box follows the photo through every crop and scale.

Written for the people-posts benchmark, apart from the detector's training layouts
(``detector/training/people_layouts.py``) on purpose: a benchmark drawn by the training code
would reward its quirks. Everything random comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from lookalike.types import Box

KINDS = ("photo", "post", "story", "look", "collage")
MIN_VISIBLE = 0.5  # a garment cut to less than half its area is no longer searchable as itself
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Person:
    """A people photo with its garments' boxes (keys name the catalog items) and boxes to ignore."""

    photo: Image.Image
    garments: dict[str, Box]
    ignore: Sequence[Box] = ()


@dataclass(frozen=True)
class PeopleScreen:
    """The composed screen as JPEG bytes, each visible garment's box by key, and ignore boxes."""

    jpeg: bytes
    boxes: dict[str, Box]
    ignore: list[Box]


class _Canvas:
    """A screen being drawn, collecting boxes as pictures land on it."""

    def __init__(self, size: tuple[int, int], bg: tuple[int, int, int]) -> None:
        self.image = Image.new("RGB", size, bg)
        self.draw = ImageDraw.Draw(self.image)
        self.boxes: dict[str, Box] = {}
        self.ignore: list[Box] = []

    def place(self, person: Person, rect: tuple[int, int, int, int], rng: random.Random, fit: str) -> None:
        """Draw ``person`` into ``rect`` (x, y, w, h), cover-cropped or contained; record its boxes."""
        x, y, w, h = rect
        photo = person.photo
        scale = (
            max(w / photo.width, h / photo.height)
            if fit == "cover"
            else min(w / photo.width, h / photo.height)
        )
        rw, rh = max(1, round(photo.width * scale)), max(1, round(photo.height * scale))
        big = photo.resize((rw, rh), Image.Resampling.BILINEAR)
        if fit == "cover":
            ox, oy = rng.randint(0, max(0, rw - w)), rng.randint(0, max(0, rh - h))
            self.image.paste(big.crop((ox, oy, ox + w, oy + h)), (x, y))
            dx, dy, clip = x - ox, y - oy, Box(x, y, x + w, y + h)
        else:
            dx, dy = x + (w - rw) // 2, y + (h - rh) // 2
            self.image.paste(big, (dx, dy))
            clip = Box(dx, dy, dx + rw, dy + rh)
        sx, sy = rw / photo.width, rh / photo.height
        for key, b in person.garments.items():
            moved = Box(b.x1 * sx + dx, b.y1 * sy + dy, b.x2 * sx + dx, b.y2 * sy + dy)
            seen = _clip(moved, clip)
            if seen is not None and seen.area >= MIN_VISIBLE * moved.area:
                self.boxes[key] = seen
            elif seen is not None:
                self.ignore.append(seen)  # mostly cut away: a detection there is not wrong
        for b in person.ignore:
            seen = _clip(Box(b.x1 * sx + dx, b.y1 * sy + dy, b.x2 * sx + dx, b.y2 * sy + dy), clip)
            if seen is not None:
                self.ignore.append(seen)

    def cover_ui(self, box: tuple[float, float, float, float], fill: tuple[int, int, int]) -> None:
        """Opaque UI over the content (bars, stickers): garments it hides mostly go to ignore."""
        self.draw.rectangle(box, fill=fill)
        ui = Box(*box)
        for key, b in list(self.boxes.items()):
            rest = _visible_outside(b, ui)
            if rest < MIN_VISIBLE * b.area:
                del self.boxes[key]
                self.ignore.append(b)


def _clip(b: Box, to: Box) -> Box | None:
    c = Box(max(b.x1, to.x1), max(b.y1, to.y1), min(b.x2, to.x2), min(b.y2, to.y2))
    return c if c.x2 - c.x1 >= 2 and c.y2 - c.y1 >= 2 else None


def _visible_outside(b: Box, ui: Box) -> float:
    w = max(0.0, min(b.x2, ui.x2) - max(b.x1, ui.x1))
    h = max(0.0, min(b.y2, ui.y2) - max(b.y1, ui.y1))
    return b.area - w * h


def _font(px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(px)))


def _bars(
    c: _Canvas, rng: random.Random, width: int, height: int, unit: float, dark: bool
) -> tuple[int, int]:
    """Status bar + app header on top, tab bar below; returns the content's top and bottom."""
    bg = (0, 0, 0) if dark else WHITE
    fg = WHITE if dark else (20, 20, 20)
    top = int(rng.uniform(110, 150) * unit) + int(rng.uniform(110, 160) * unit)
    c.cover_ui((0, 0, width, top), bg)
    c.draw.text(
        (60 * unit, 40 * unit),
        f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}",
        fill=fg,
        font=_font(44 * unit),
    )
    c.draw.text(
        (60 * unit, top - 100 * unit),
        rng.choice(("Feed", "For you", "Explore")),
        fill=fg,
        font=_font(56 * unit),
    )
    bottom = height - int(rng.uniform(150, 200) * unit)
    c.cover_ui((0, bottom, width, height), bg)
    for i in range(5):
        cx = width * (i + 0.5) / 5
        c.draw.ellipse(
            (cx - 28 * unit, bottom + 40 * unit, cx + 28 * unit, bottom + 96 * unit), outline=fg, width=4
        )
    return top, bottom


def _photo(
    people: Sequence[Person], products: Sequence[Image.Image], rng: random.Random, size: tuple[int, int]
) -> _Canvas:
    """The photo as it was saved or shared: its own pixels, no UI."""
    p = people[0]
    c = _Canvas(p.photo.size, WHITE)
    c.place(p, (0, 0, *p.photo.size), rng, "cover")
    return c


def _post(
    people: Sequence[Person], products: Sequence[Image.Image], rng: random.Random, size: tuple[int, int]
) -> _Canvas:
    """A feed post: author row, the photo full width (as shot, 4:5 or square), actions and caption."""
    width, height = size
    unit = width / 1170
    dark = rng.random() < 0.3
    c = _Canvas(size, (0, 0, 0) if dark else WHITE)
    fg = WHITE if dark else (20, 20, 20)
    y = int(rng.uniform(260, 700) * unit)
    c.draw.ellipse((40 * unit, y, 140 * unit, y + 100 * unit), fill=(200, 120, 90))
    c.draw.text((170 * unit, y + 25 * unit), "someone_stylish", fill=fg, font=_font(42 * unit))
    y += int(130 * unit)
    p = people[0]
    ratio = rng.choice((p.photo.height / p.photo.width, 1.25, 1.0))
    ph = min(int(width * ratio), height - y - int(400 * unit))
    c.place(p, (0, y, width, ph), rng, "cover")
    y += ph + int(40 * unit)
    for i in range(4):
        c.draw.ellipse(
            (40 * unit + i * 110 * unit, y, 110 * unit + i * 110 * unit, y + 70 * unit), outline=fg, width=5
        )
    c.draw.text(
        (40 * unit, y + 110 * unit), "liked by many  #ootd #streetstyle", fill=fg, font=_font(38 * unit)
    )
    _bars(c, rng, width, height, unit, dark)
    return c


def _story(
    people: Sequence[Person], products: Sequence[Image.Image], rng: random.Random, size: tuple[int, int]
) -> _Canvas:
    """A story: the photo fills the screen (or sits on its blurred copy), progress bar, name, reply."""
    width, height = size
    unit = width / 1170
    p = people[0]
    c = _Canvas(size, (0, 0, 0))
    if rng.random() < 0.5:
        c.place(p, (0, 0, width, height), rng, "cover")
    else:
        blurred = p.photo.resize(size).filter(ImageFilter.GaussianBlur(30))
        c.image.paste(blurred)
        c.place(p, (0, int(height * 0.1), width, int(height * 0.8)), rng, "contain")
    c.draw.rectangle((30 * unit, 60 * unit, width - 30 * unit, 66 * unit), fill=WHITE)
    c.draw.text((150 * unit, 100 * unit), "my.outfit", fill=WHITE, font=_font(40 * unit))
    c.draw.rounded_rectangle(
        (40 * unit, height - 180 * unit, width - 200 * unit, height - 80 * unit),
        radius=50 * unit,
        outline=WHITE,
        width=4,
    )
    return c


def _look(
    people: Sequence[Person], products: Sequence[Image.Image], rng: random.Random, size: tuple[int, int]
) -> _Canvas:
    """Shop the look: the photo on top, a row of product cards (photos not in the catalog) below."""
    width, height = size
    unit = width / 1170
    c = _Canvas(size, (248, 248, 248))
    top = int(280 * unit)
    ph = int(height * rng.uniform(0.45, 0.6))
    c.place(people[0], (0, top, width, ph), rng, "cover")
    y = top + ph + int(40 * unit)
    c.draw.text((40 * unit, y), "Shop the look", fill=(20, 20, 20), font=_font(52 * unit))
    y += int(100 * unit)
    card = int(width / 2.6)
    for i, product in enumerate(products[:3]):
        x = int(40 * unit) + i * (card + int(30 * unit))
        c.draw.rounded_rectangle((x, y, x + card, y + card + 120 * unit), radius=24 * unit, fill=WHITE)
        shown = product.convert("RGB")
        shown.thumbnail((card - 20, card - 20))
        px, py = x + (card - shown.width) // 2, y + (card - shown.height) // 2
        c.image.paste(shown, (px, py))
        seen = _clip(Box(px, py, px + shown.width, py + shown.height), Box(0, 0, width, height))
        if seen is not None:
            c.ignore.append(seen)
        c.draw.text(
            (x + 20 * unit, y + card + 30 * unit),
            f"${rng.randint(19, 199)}.00",
            fill=(20, 20, 20),
            font=_font(40 * unit),
        )
    _bars(c, rng, width, height, unit, False)
    return c


def _collage(
    people: Sequence[Person], products: Sequence[Image.Image], rng: random.Random, size: tuple[int, int]
) -> _Canvas:
    """Two to four photos of people side by side or in a 2x2 grid, thin white gaps."""
    width, height = size
    n = len(people)
    c = _Canvas(size, WHITE)
    gap = max(4, width // 150)
    cols, rows = (2, 1) if n == 2 else (2, 2)
    cw, rh = (width - gap * (cols + 1)) // cols, (height - gap * (rows + 1)) // rows
    for i, p in enumerate(people[: cols * rows]):
        r, col = divmod(i, cols)
        c.place(p, (gap + col * (cw + gap), gap + r * (rh + gap), cw, rh), rng, "cover")
    return c


_COMPOSERS = {"photo": _photo, "post": _post, "story": _story, "look": _look, "collage": _collage}


def compose_people_screen(
    kind: str,
    people: Sequence[Person],
    rng: random.Random,
    *,
    size: tuple[int, int] = (1170, 2532),
    products: Sequence[Image.Image] = (),
) -> PeopleScreen:
    """One screen of ``kind``. ``collage`` shows all of ``people`` (2 to 4), the others ``people[0]``;
    ``look`` adds cards of ``products`` (photos outside the catalog: their boxes are ignored)."""
    if kind not in _COMPOSERS:
        raise ValueError(f"unknown screen kind {kind!r}; known: {list(KINDS)}")
    if kind == "collage" and not 2 <= len(people) <= 4:
        raise ValueError(f"a collage takes 2 to 4 photos, got {len(people)}")
    canvas = _COMPOSERS[kind](people, products, rng, size)
    buf = io.BytesIO()
    canvas.image.save(buf, format="JPEG", quality=rng.randint(60, 92))
    return PeopleScreen(buf.getvalue(), canvas.boxes, canvas.ignore)


__all__ = ["KINDS", "PeopleScreen", "Person", "compose_people_screen"]
