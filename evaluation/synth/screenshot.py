"""Phone-screenshot-like composites with known product boxes.

Shoppers send screenshots of shop apps and social feeds: a status bar, app chrome, text,
prices, buttons, other pictures, and the product photo itself re-scaled, cropped and
re-compressed. ``compose_screenshot`` fakes exactly that around real catalog photos so the
right item *and* its box are known, for recall benchmarks and for tuning a detector.

Everything random comes from the ``random.Random`` passed in, so a seed reproduces a
screenshot bit for bit.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from lookalike.types import Box

RGB = tuple[int, int, int]

# UI colours. Deliberately no magenta/purple: tests paste a solid magenta "product" and look for it.
LIGHT_BG: Sequence[RGB] = ((255, 255, 255), (248, 248, 248), (242, 242, 247), (250, 247, 240))
DARK_BG: Sequence[RGB] = ((0, 0, 0), (18, 18, 18), (28, 28, 30), (22, 27, 34))
ACCENTS: Sequence[RGB] = (
    (0, 122, 255),
    (52, 199, 89),
    (255, 149, 0),
    (255, 59, 48),
    (255, 204, 0),
    (0, 199, 190),
    (48, 176, 199),
    (90, 200, 250),
    (238, 77, 45),
    (29, 161, 242),
)
_VOCABULARY = (
    "new in sale shop now free shipping returns size colour add to bag cart wishlist best seller "
    "limited offer only today reviews stars delivery cotton slim fit summer collection trending "
    "shared a post liked by others view all comments follow price drop in stock details more"
)
WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True)
class _Theme:
    bg: RGB
    fg: RGB
    muted: RGB
    card: RGB
    accent: RGB
    dark: bool


@dataclass
class _Placed:
    """A transformed product photo (RGBA) and where its top-left corner lands."""

    photo: Image.Image
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Screenshot:
    """A composed screenshot as its JPEG file, one box per product, and one per pasted non-catalog photo.

    ``ignore`` boxes mark the distractor photos: a detector that finds a garment there is right
    to, so benchmarks score detections inside them as neither true nor false positives.
    """

    jpeg: bytes
    boxes: list[Box]
    ignore: list[Box]


def compose_screenshot(
    products: Sequence[Image.Image],
    rng: random.Random,
    *,
    size: tuple[int, int] = (1170, 2532),
    distractors: Sequence[Image.Image] = (),
) -> tuple[Image.Image, list[Box]]:
    """Paste 1–3 product photos into a fake app screen; return it and one tight box per product.

    Boxes are the axis-aligned bounds of each pasted (cropped, scaled, rotated, warped) photo,
    in canvas pixels, in the order of ``products``. The screenshot is JPEG-compressed once at
    a random quality in 40–90, as a real shared screenshot would be.
    """
    data, boxes = compose_screenshot_jpeg(products, rng, size=size, distractors=distractors)
    out = Image.open(io.BytesIO(data))
    out.load()
    return out.convert("RGB"), boxes


def compose_screenshot_jpeg(
    products: Sequence[Image.Image],
    rng: random.Random,
    *,
    size: tuple[int, int] = (1170, 2532),
    distractors: Sequence[Image.Image] = (),
) -> tuple[bytes, list[Box]]:
    """``compose_screenshot`` as the JPEG file itself, to store queries without compressing twice."""
    shot = compose_screenshot_full(products, rng, size=size, distractors=distractors)
    return shot.jpeg, shot.boxes


def compose_screenshot_full(
    products: Sequence[Image.Image],
    rng: random.Random,
    *,
    size: tuple[int, int] = (1170, 2532),
    distractors: Sequence[Image.Image] = (),
) -> Screenshot:
    """``compose_screenshot_jpeg`` plus the pasted ``distractors``' boxes (same pixels, same rng use)."""
    if not 1 <= len(products) <= 3:
        raise ValueError(f"compose_screenshot takes 1 to 3 products, got {len(products)}")
    width, height = size
    if width < 200 or height < 300:
        raise ValueError(f"screenshot size {size} is too small (min 200x300)")
    theme = _pick_theme(rng)
    canvas = Image.new("RGB", size, theme.bg)
    draw = ImageDraw.Draw(canvas)
    unit = width / 1170.0

    top = _draw_status_bar(draw, rng, theme, width, unit)
    top = _draw_header(draw, rng, theme, width, top, unit)
    bottom = _draw_tab_bar(draw, rng, theme, width, height, unit)

    margin = int(rng.uniform(24, 60) * unit)
    content_w = width - 2 * margin
    rows = _row_pattern(len(products), rng)
    caption_h = int(rng.uniform(110, 200) * unit)
    row_gap = int(rng.uniform(20, 60) * unit)
    available = bottom - top - row_gap * (len(rows) + 1)

    placed = [_Placed(_prepare_photo(p, rng)) for p in products]
    _scale_photos(placed, rows, content_w, available, caption_h, margin, rng)

    row_heights = [max(placed[i].photo.height for i in row) + caption_h for row in rows]
    slack = max(0, available - sum(row_heights))
    weights = [rng.random() + 0.2 for _ in range(len(rows) + 1)]
    gaps = [int(slack * w / sum(weights)) for w in weights]

    pasted: list[Box] = []
    y = top + row_gap
    for r, row in enumerate(rows):
        _fill(
            draw, canvas, rng, theme, margin, y, content_w, gaps[r] - row_gap // 2, unit, distractors, pasted
        )
        y += gaps[r]
        _draw_product_row(draw, canvas, rng, theme, placed, row, margin, y, content_w, row_heights[r], unit)
        y += row_heights[r] + row_gap
    _fill(draw, canvas, rng, theme, margin, y, content_w, max(0, bottom - y), unit, distractors, pasted)

    boxes: list[Box] = []
    for item in placed:
        alpha = item.photo.getchannel("A")
        canvas.paste(item.photo.convert("RGB"), (item.x, item.y), alpha)
        bx = alpha.point(lambda v: 255 if v >= 128 else 0).getbbox() or (0, 0, *item.photo.size)
        box = Box(float(item.x + bx[0]), float(item.y + bx[1]), float(item.x + bx[2]), float(item.y + bx[3]))
        boxes.append(box.clipped(width, height))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=rng.randint(40, 90))
    ignore = [b.clipped(width, height) for b in pasted]
    return Screenshot(buf.getvalue(), boxes, [b for b in ignore if b.x2 > b.x1 and b.y2 > b.y1])


# --- product photo transforms -------------------------------------------------------------


def _prepare_photo(photo: Image.Image, rng: random.Random) -> Image.Image:
    """Random 70–100% crop, colour jitter and blur; geometry comes later, at the final size."""
    img = photo.convert("RGB")
    w, h = img.size
    cw, ch = max(1, round(w * rng.uniform(0.7, 1.0))), max(1, round(h * rng.uniform(0.7, 1.0)))
    x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.8, 1.2))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.75, 1.25))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    return img


def _warp(img: Image.Image, target_w: int, rng: random.Random) -> Image.Image:
    """Scale to ``target_w``, then rotate (±8°) and perspective-warp slightly, on a transparent ground."""
    w, h = img.size
    tw = max(8, target_w)
    th = max(8, round(h * tw / w))
    img = img.resize((tw, th), Image.Resampling.LANCZOS)
    jitter = rng.uniform(0.0, 0.04)
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], dtype=np.float64)
    dst = src + np.array(
        [[rng.uniform(-jitter, jitter) * tw, rng.uniform(-jitter, jitter) * th] for _ in range(4)]
    )
    angle = np.deg2rad(rng.uniform(-8.0, 8.0))
    centre = np.array([tw / 2, th / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (dst - centre) @ rot.T + centre
    dst -= dst.min(axis=0)
    out_w, out_h = (int(np.ceil(v)) + 1 for v in dst.max(axis=0))
    coeffs = _perspective_coeffs(dst, src)
    rgba = img.convert("RGBA")
    return rgba.transform((out_w, out_h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)


def _perspective_coeffs(out_pts: np.ndarray, in_pts: np.ndarray) -> tuple[float, ...]:
    """The 8 coefficients Pillow wants: output pixel -> input pixel."""
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(out_pts, in_pts, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    sol = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return tuple(float(c) for c in sol)


def _row_pattern(n: int, rng: random.Random) -> list[list[int]]:
    """Which products share a row (a 2-column grid row or a 1-column feed row)."""
    patterns = {
        1: [[[0]]],
        2: [[[0], [1]], [[0, 1]]],
        3: [[[0], [1], [2]], [[0, 1], [2]], [[0], [1, 2]]],
    }[n]
    return [list(r) for r in rng.choice(patterns)]


def _scale_photos(
    placed: list[_Placed],
    rows: list[list[int]],
    content_w: int,
    available: int,
    caption_h: int,
    margin: int,
    rng: random.Random,
) -> None:
    """Warp each photo at a random size that fits its cell, shrinking all when the rows do not fit."""
    gap = max(8, margin // 2)
    cell_w = {i: (content_w - gap * (len(row) - 1)) // len(row) for row in rows for i in row}
    targets = {i: cell_w[i] * rng.uniform(0.5, 0.95) for i in cell_w}
    # Budget heights before warping (the warp grows a photo by at most ~20%).
    heights = {i: targets[i] * p.photo.height / p.photo.width * 1.2 for i, p in enumerate(placed)}
    need = sum(max(heights[i] for i in row) for row in rows)
    room = max(1.0, available - caption_h * len(rows))
    shrink = min(1.0, room / need) if need > 0 else 1.0
    for i, p in enumerate(placed):
        p.photo = _warp(p.photo, round(targets[i] * shrink), rng)
        if p.photo.width > cell_w[i]:
            ratio = cell_w[i] / p.photo.width
            p.photo = p.photo.resize(
                (cell_w[i], max(1, round(p.photo.height * ratio))), Image.Resampling.LANCZOS
            )
    # Rounding and the warp can still overshoot by a few pixels; shrink uniformly if so.
    total = sum(max(placed[i].photo.height for i in row) for row in rows)
    if total > room:
        ratio = room / total
        for p in placed:
            p.photo = p.photo.resize(
                (max(1, int(p.photo.width * ratio)), max(1, int(p.photo.height * ratio))),
                Image.Resampling.LANCZOS,
            )


# --- screen chrome ------------------------------------------------------------------------


def _pick_theme(rng: random.Random) -> _Theme:
    dark = rng.random() < 0.3
    bg = rng.choice(DARK_BG if dark else LIGHT_BG)
    fg: RGB = (235, 235, 240) if dark else (20, 20, 24)
    muted: RGB = (140, 140, 150) if dark else (120, 120, 128)
    card: RGB = (44, 44, 48) if dark else (236, 236, 240)
    return _Theme(bg, fg, muted, card, rng.choice(ACCENTS), dark)


def _font(px: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, int(px)))


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def _draw_status_bar(
    draw: ImageDraw.ImageDraw, rng: random.Random, theme: _Theme, width: int, unit: float
) -> int:
    h = int(rng.uniform(110, 150) * unit)
    draw.text(
        (int(80 * unit), h * 0.3),
        f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}",
        fill=theme.fg,
        font=_font(44 * unit),
    )
    x = width - int(90 * unit)
    bw, bh = int(60 * unit), int(28 * unit)
    y = int(h * 0.4)
    draw.rounded_rectangle(
        (x - bw, y, x, y + bh), radius=int(6 * unit), outline=theme.fg, width=max(1, int(3 * unit))
    )
    fill = bw * rng.uniform(0.2, 0.95)
    draw.rectangle((x - bw + 4 * unit, y + 4 * unit, x - bw + fill, y + bh - 4 * unit), fill=theme.fg)
    for i in range(4):  # signal bars
        bx = x - bw - int((120 - i * 16) * unit)
        draw.rectangle((bx, y + bh - (i + 1) * 7 * unit, bx + 10 * unit, y + bh), fill=theme.fg)
    return h


def _draw_header(
    draw: ImageDraw.ImageDraw, rng: random.Random, theme: _Theme, width: int, top: int, unit: float
) -> int:
    h = int(rng.uniform(120, 180) * unit)
    if rng.random() < 0.4:
        draw.rectangle((0, top, width, top + h), fill=theme.accent)
        fg = (255, 255, 255)
    else:
        fg = theme.fg
        draw.line((0, top + h - 1, width, top + h - 1), fill=theme.muted, width=max(1, int(2 * unit)))
    cy = top + h // 2
    s = int(24 * unit)
    draw.line(
        (60 * unit + s, cy - s, 60 * unit, cy, 60 * unit + s, cy + s), fill=fg, width=max(2, int(6 * unit))
    )
    font = _font(rng.uniform(48, 64) * unit)
    draw.text((width / 2, cy), _words(rng, rng.randint(1, 2)).title(), fill=fg, font=font, anchor="mm")
    for i in range(rng.randint(1, 3)):
        ix = width - int((80 + i * 100) * unit)
        draw.ellipse((ix - s, cy - s, ix + s, cy + s), outline=fg, width=max(2, int(5 * unit)))
    bottom = top + h
    if rng.random() < 0.5:  # search field
        sh = int(100 * unit)
        pad = int(40 * unit)
        draw.rounded_rectangle(
            (pad, bottom + pad // 2, width - pad, bottom + pad // 2 + sh), radius=sh // 2, fill=theme.card
        )
        draw.text(
            (pad + sh, bottom + pad // 2 + sh // 2),
            "Search",
            fill=theme.muted,
            font=_font(40 * unit),
            anchor="lm",
        )
        bottom += sh + pad
    return bottom


def _draw_tab_bar(
    draw: ImageDraw.ImageDraw, rng: random.Random, theme: _Theme, width: int, height: int, unit: float
) -> int:
    indicator_y = height - int(30 * unit)
    draw.rounded_rectangle(
        (width * 0.35, indicator_y - 12 * unit, width * 0.65, indicator_y),
        radius=int(6 * unit),
        fill=theme.fg,
    )
    if rng.random() < 0.3:
        return height - int(70 * unit)
    h = int(rng.uniform(150, 220) * unit)
    top = height - h
    draw.rectangle(
        (0, top, width, indicator_y - 20 * unit), fill=theme.card if rng.random() < 0.5 else theme.bg
    )
    draw.line((0, top, width, top), fill=theme.muted, width=max(1, int(2 * unit)))
    n = rng.randint(3, 5)
    s = int(30 * unit)
    for i in range(n):
        cx = int(width * (i + 0.5) / n)
        cy = top + int(60 * unit)
        colour = theme.accent if i == 0 else theme.muted
        if rng.random() < 0.5:
            draw.ellipse((cx - s, cy - s, cx + s, cy + s), outline=colour, width=max(2, int(5 * unit)))
        else:
            draw.rounded_rectangle((cx - s, cy - s, cx + s, cy + s), radius=s // 3, fill=colour)
    return top


def _draw_product_row(
    draw: ImageDraw.ImageDraw,
    canvas: Image.Image,
    rng: random.Random,
    theme: _Theme,
    placed: list[_Placed],
    row: list[int],
    left: int,
    top: int,
    content_w: int,
    row_h: int,
    unit: float,
) -> None:
    """Card backgrounds, captions, price tags and buttons; the photo positions are recorded, pasted last."""
    gap = max(8, int(24 * unit))
    cell_w = (content_w - gap * (len(row) - 1)) // len(row)
    photo_h = max(placed[i].photo.height for i in row)
    cards = rng.random() < 0.5
    for col, idx in enumerate(row):
        x = left + col * (cell_w + gap)
        p = placed[idx]
        if cards:
            draw.rounded_rectangle((x, top, x + cell_w, top + row_h), radius=int(24 * unit), fill=theme.card)
        side_caption = len(row) == 1 and p.photo.width < 0.6 * cell_w and rng.random() < 0.6
        if side_caption:
            p.x = x + int(rng.uniform(0, 0.05) * cell_w)
            p.y = top + (row_h - p.photo.height) // 2
            _caption(
                draw, rng, theme, p.x + p.photo.width + int(30 * unit), p.y, unit, cell_w - p.photo.width
            )
        else:
            p.x = x + rng.randint(0, max(0, cell_w - p.photo.width))
            p.y = top + rng.randint(0, max(0, photo_h - p.photo.height))
            _caption(draw, rng, theme, x + int(16 * unit), top + photo_h + int(16 * unit), unit, cell_w)


def _caption(
    draw: ImageDraw.ImageDraw, rng: random.Random, theme: _Theme, x: int, y: int, unit: float, width: float
) -> None:
    """A title line, a price tag and sometimes a button, as product listings have."""
    font = _font(rng.uniform(30, 40) * unit)
    max_chars = max(4, int(width / (20 * unit)))
    draw.text((x, y), _words(rng, rng.randint(2, 4))[:max_chars], fill=theme.fg, font=font)
    y += int(50 * unit)
    price = f"${rng.randint(5, 250)}.{rng.choice(['00', '99', '49', '95'])}"
    pfont = _font(rng.uniform(34, 44) * unit)
    if rng.random() < 0.5:
        tw = draw.textlength(price, font=pfont)
        draw.rounded_rectangle(
            (x, y, x + tw + 24 * unit, y + 56 * unit), radius=int(12 * unit), fill=theme.accent
        )
        draw.text((x + 12 * unit, y + 28 * unit), price, fill=(255, 255, 255), font=pfont, anchor="lm")
    else:
        draw.text((x, y), price, fill=theme.accent, font=pfont)
    if rng.random() < 0.4 and width > 300 * unit:
        bx = x + int(min(width * 0.5, 260 * unit))
        draw.rounded_rectangle(
            (bx, y, bx + 200 * unit, y + 56 * unit),
            radius=int(28 * unit),
            outline=theme.fg,
            width=max(1, int(3 * unit)),
        )
        draw.text((bx + 100 * unit, y + 28 * unit), "Add", fill=theme.fg, font=_font(30 * unit), anchor="mm")


# --- non-catalog filler -------------------------------------------------------------------


def _fill(
    draw: ImageDraw.ImageDraw,
    canvas: Image.Image,
    rng: random.Random,
    theme: _Theme,
    left: int,
    top: int,
    content_w: int,
    height: int,
    unit: float,
    distractors: Sequence[Image.Image],
    pasted: list[Box],
) -> None:
    """Stack text, banners, icon rows and other pictures into a vertical gap."""
    y = top
    end = top + height
    line_h = int(52 * unit)
    while end - y >= line_h:
        room = end - y
        kind = rng.random()
        if kind < 0.35 or room < 160 * unit:
            y = _text_lines(
                draw, rng, theme, left, y, content_w, min(room, int(rng.uniform(1, 4) * line_h)), unit
            )
        elif kind < 0.55:
            h = int(min(room, rng.uniform(120, 300) * unit))
            draw.rounded_rectangle(
                (left, y, left + content_w, y + h), radius=int(20 * unit), fill=rng.choice(ACCENTS)
            )
            draw.text(
                (left + 40 * unit, y + h / 2),
                _words(rng, 3).upper(),
                fill=(255, 255, 255),
                font=_font(44 * unit),
                anchor="lm",
            )
            y += h
        elif kind < 0.7:
            s = int(min(room, rng.uniform(90, 140) * unit))
            n = rng.randint(3, 6)
            for i in range(n):
                cx = left + int(content_w * (i + 0.5) / n)
                draw.ellipse((cx - s / 2, y, cx + s / 2, y + s), fill=rng.choice(ACCENTS))
            y += s
        else:
            h = int(min(room, rng.uniform(200, 600) * unit))
            w = int(content_w * rng.uniform(0.4, 1.0))
            _picture(canvas, rng, distractors, left, y, w, h, pasted)
            y += h
        y += int(rng.uniform(10, 40) * unit)


def _text_lines(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    theme: _Theme,
    left: int,
    top: int,
    content_w: int,
    height: int,
    unit: float,
) -> int:
    """Real glyphs or grey bars standing in for text, one line per ~52 px."""
    line_h = int(52 * unit)
    y = top
    as_bars = rng.random() < 0.3
    font = _font(rng.uniform(30, 40) * unit)
    while y + line_h <= top + height:
        w = content_w * rng.uniform(0.4, 1.0)
        if as_bars:
            draw.rounded_rectangle(
                (left, y + 10 * unit, left + w, y + 36 * unit), radius=int(8 * unit), fill=theme.muted
            )
        else:
            draw.text(
                (left, y),
                _words(rng, max(2, int(w / (140 * unit)))),
                fill=rng.choice((theme.fg, theme.muted)),
                font=font,
            )
        y += line_h
    return max(y, top + line_h)


def _picture(
    canvas: Image.Image,
    rng: random.Random,
    distractors: Sequence[Image.Image],
    x: int,
    y: int,
    w: int,
    h: int,
    pasted: list[Box],
) -> None:
    """A non-catalog photo: one of ``distractors`` (cover-cropped, its box appended to ``pasted``) or a
    synthetic gradient scene."""
    if w < 4 or h < 4:
        return
    if distractors:
        src = rng.choice(list(distractors)).convert("RGB")
        scale = max(w / src.width, h / src.height)
        src = src.resize(
            (max(w, round(src.width * scale)), max(h, round(src.height * scale))), Image.Resampling.BILINEAR
        )
        ox, oy = rng.randint(0, src.width - w), rng.randint(0, src.height - h)
        canvas.paste(src.crop((ox, oy, ox + w, oy + h)), (x, y))
        pasted.append(Box(float(x), float(y), float(x + w), float(y + h)))
        return
    a, b = np.array(rng.choice(ACCENTS), dtype=np.float32), np.array(rng.choice(ACCENTS), dtype=np.float32)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    grad = np.broadcast_to(a * (1 - t) + b * t, (h, w, 3)).astype(np.uint8)
    pic = Image.fromarray(grad, "RGB")
    d = ImageDraw.Draw(pic)
    for _ in range(rng.randint(1, 4)):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.4) * min(w, h)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rng.choice(ACCENTS))
    canvas.paste(pic, (x, y))


__all__ = ["Screenshot", "compose_screenshot", "compose_screenshot_full", "compose_screenshot_jpeg"]
