"""Screen layouts that place catalog photos: each returns the image and a box per pasted photo.

Kinds: shop result grids, social posts, full-screen photos, collages, a product photo over a real
photo background, marketplace list rows (held out of training by default, for a second test
set), and negatives (UI with no product at all).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from detector.training.draw import (
    Label,
    Palette,
    fit_contain,
    fit_cover,
    icon,
    jitter,
    paste,
    price,
    random_colour,
    status_bar,
    text,
    words,
)


@dataclass
class Ctx:
    """What a layout needs: randomness, a canvas size and catalog photos to place."""

    rng: random.Random
    width: int
    height: int
    take: Callable[[], tuple[Image.Image, int]]  # a product photo and its class
    backdrop: Callable[[], Image.Image]  # any catalog photo, used blurred/cropped as scenery
    person: Callable[[], tuple[Image.Image, list[Label]]] | None = None  # a people photo and its boxes

    @property
    def unit(self) -> float:
        return min(self.width, self.height) / 100.0


Layout = Callable[[Ctx], tuple[Image.Image, list[Label]]]


def app_chrome(
    ctx: Ctx, pal: Palette
) -> tuple[Image.Image, ImageDraw.ImageDraw, int, int, Callable[[], None]]:
    """Canvas with status bar, app header/search bar and bottom tab bar.

    Returns the content's top/bottom and ``restore``, which redraws the chrome over content that
    scrolled under it (so no product pixel shows outside its clipped box).
    """
    rng, u = ctx.rng, ctx.unit
    img = Image.new("RGB", (ctx.width, ctx.height), pal.bg)
    d = ImageDraw.Draw(img)
    top = 0
    if rng.random() < 0.85:
        sb = int(u * rng.uniform(5, 8))
        status_bar(d, rng, ctx.width, sb, pal.text)
        top = sb
    header = int(u * rng.uniform(9, 15))
    if rng.random() < 0.6:
        d.rounded_rectangle(
            (u * 4, top + header * 0.15, ctx.width - u * 14, top + header * 0.85),
            radius=header * 0.3,
            fill=jitter(rng, pal.card, 12),
        )
        text(d, (u * 9, top + header * 0.32), words(rng, rng.randint(1, 3)), int(header * 0.33), pal.muted)
        icon(d, rng, ctx.width - u * 7, top + header / 2, u * 2.5, pal.text)
    else:
        text(d, (u * 4, top + header * 0.2), words(rng, 2), int(header * 0.45), pal.text, 1)
    top += header
    if rng.random() < 0.5:  # filter chips
        chip_h = int(u * 7)
        x = u * 3
        while x < ctx.width:
            cw = u * rng.uniform(12, 25)
            d.rounded_rectangle((x, top + u, x + cw, top + u + chip_h), radius=chip_h / 2, outline=pal.muted)
            text(d, (x + u * 2, top + u + chip_h * 0.2), words(rng, 1), int(chip_h * 0.5), pal.text)
            x += cw + u * 2
        top += chip_h + int(u * 2)
    bottom = ctx.height
    if rng.random() < 0.7:
        tab = int(u * rng.uniform(10, 15))
        bottom = ctx.height - tab
        d.rectangle((0, bottom, ctx.width, ctx.height), fill=pal.card)
        n = rng.randint(3, 5)
        for i in range(n):
            icon(d, rng, ctx.width * (i + 0.5) / n, bottom + tab * 0.45, u * 2.5, pal.muted)
    head, foot = img.crop((0, 0, ctx.width, top)), img.crop((0, bottom, ctx.width, ctx.height))

    def restore() -> None:
        img.paste(head, (0, 0))
        img.paste(foot, (0, bottom))

    return img, d, top, bottom, restore


def shop_grid(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """A shop's search result grid: cards with a photo, title, price, maybe a heart and a badge."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    landscape = ctx.width > ctx.height
    cols = rng.choice((3, 4, 5)) if landscape else rng.choice((2, 2, 2, 3, 1))
    gap = int(u * rng.uniform(1, 4))
    card_w = (ctx.width - gap * (cols + 1)) // cols
    photo_h = int(card_w * rng.choice((1.0, 1.25, 1.33, 1.5, 0.8)))
    caption_h = int(u * rng.uniform(10, 22)) if cols > 1 else int(u * rng.uniform(8, 14))
    y = top + gap - (rng.randint(0, photo_h // 2 + caption_h) if rng.random() < 0.5 else 0)  # scrolled
    labels: list[Label] = []
    inset = int(u * rng.choice((0, 0, 1, 2)))
    while y < bottom:
        for c in range(cols):
            x = gap + c * (card_w + gap)
            d.rounded_rectangle((x, y, x + card_w, y + photo_h + caption_h), radius=u * 2, fill=pal.card)
            photo, cls = ctx.take()
            if rng.random() < 0.8:
                pic = fit_cover(photo, card_w - 2 * inset, photo_h - 2 * inset, rng)
                labels.append(paste(img, pic, x + inset, y + inset, cls))
            else:  # white-padded product shot inside the card
                pic = fit_contain(photo, card_w - 2 * inset, photo_h - 2 * inset)
                px = x + inset + (card_w - 2 * inset - pic.width) // 2
                py = y + inset + (photo_h - 2 * inset - pic.height) // 2
                labels.append(paste(img, pic, px, py, cls))
            if rng.random() < 0.5:
                icon(d, rng, x + card_w - u * 5, y + u * 5, u * 2.5, (255, 255, 255))
            if rng.random() < 0.25:
                d.rectangle((x + u * 2, y + u * 2, x + u * 16, y + u * 7), fill=pal.accent)
                text(
                    d,
                    (x + u * 3, y + u * 2.5),
                    rng.choice(("SALE", "-30%", "NEW", "HOT")),
                    int(u * 3.5),
                    (255,) * 3,
                )
            ty = y + photo_h + u
            ty += text(d, (x + u * 2, ty), price(rng), int(u * rng.uniform(3.5, 5.5)), pal.text, 1)
            text(d, (x + u * 2, ty), words(rng, rng.randint(2, 4)), int(u * 3.2), pal.muted)
        y += photo_h + caption_h + gap
    restore()
    return img, [cut_to(lb, top, bottom) for lb in labels]


def cut_to(lb: Label, top: float, bottom: float) -> Label:
    """Content scrolled under the header or tab bar is hidden there."""
    return Label(lb.x1, max(lb.y1, top), lb.x2, min(lb.y2, bottom), lb.cls)


def post_author(d: ImageDraw.ImageDraw, ctx: Ctx, pal: Palette, y: int) -> int:
    """A feed post's avatar and name row; returns the y below it."""
    rng, u = ctx.rng, ctx.unit
    r = u * rng.uniform(3, 5)
    d.ellipse((u * 3, y + u, u * 3 + 2 * r, y + u + 2 * r), fill=random_colour(rng))
    text(d, (u * 5 + 2 * r, y + u + r * 0.4), words(rng, 2), int(u * 3.8), pal.text, 1)
    return y + int(2 * r + u * 3)


def post_actions(d: ImageDraw.ImageDraw, ctx: Ctx, pal: Palette, y: int) -> int:
    """A feed post's action icons and caption lines below its photo; returns the y below them."""
    rng, u = ctx.rng, ctx.unit
    for i in range(rng.randint(3, 4)):
        icon(d, rng, u * (5 + 9 * i), y + u * 3, u * 2.6, pal.text)
    y += int(u * 7)
    for _ in range(rng.randint(1, 3)):
        y += text(d, (u * 3, y), words(rng, rng.randint(4, 8)), int(u * 3.4), pal.text)
    return y + int(u * 5)


def social_post(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """A feed: avatar + name, a large photo (sometimes two in a carousel peek), actions, caption."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    d.rectangle((0, top, ctx.width, bottom), fill=pal.bg)
    labels: list[Label] = []
    y = top - (rng.randint(0, ctx.height // 3) if rng.random() < 0.4 else 0)
    while y < bottom:
        y = post_author(d, ctx, pal, y)
        photo, cls = ctx.take()
        margin = 0 if rng.random() < 0.7 else int(u * 3)
        ph = int((ctx.width - 2 * margin) * rng.choice((1.0, 1.25, 0.75, 1.0)))
        pw = ctx.width - 2 * margin
        if rng.random() < 0.6:
            labels.append(paste(img, fit_cover(photo, pw, ph, rng), margin, y, cls))
        else:  # product on a plain/blurred frame inside the post
            frame = fit_cover(ctx.backdrop(), pw, ph, rng).filter(ImageFilter.GaussianBlur(u * 3))
            img.paste(frame, (margin, y))
            pic = fit_contain(photo, int(pw * rng.uniform(0.5, 0.95)), int(ph * rng.uniform(0.5, 0.95)))
            labels.append(
                paste(img, pic, margin + (pw - pic.width) // 2, y + rng.randint(0, ph - pic.height), cls)
            )
        y = post_actions(d, ctx, pal, y + ph + int(u * 2))
    restore()
    return img, [cut_to(lb, top, bottom) for lb in labels]


def fullscreen(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """One photo filling the screen (a story or zoomed product view), with light UI overlays."""
    rng, u = ctx.rng, ctx.unit
    photo, cls = ctx.take()
    if rng.random() < 0.6:
        img = fit_cover(photo, ctx.width, ctx.height, rng)
        labels = [Label(0, 0, ctx.width, ctx.height, cls)]
    else:  # letterboxed viewer
        bg = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
        img = Image.new("RGB", (ctx.width, ctx.height), bg)
        pic = fit_contain(photo, ctx.width, int(ctx.height * rng.uniform(0.6, 1.0)))
        labels = [paste(img, pic, (ctx.width - pic.width) // 2, rng.randint(0, ctx.height - pic.height), cls)]
    d = ImageDraw.Draw(img)
    fg = (255, 255, 255)
    for _ in range(rng.randint(0, 4)):
        icon(d, rng, rng.uniform(u * 5, ctx.width - u * 5), rng.uniform(u * 5, ctx.height - u * 5), u * 3, fg)
    if rng.random() < 0.5:
        d.rectangle((0, 0, ctx.width, u * 1.2), fill=(200, 200, 200))
        text(d, (u * 4, ctx.height - u * 14), words(rng, 4), int(u * 4), fg, 1)
    return img, labels


def collage(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """Several photos tiled in a mosaic with thin gaps, or scattered and tilted like prints."""
    rng, u = ctx.rng, ctx.unit
    bg = random_colour(rng) if rng.random() < 0.5 else jitter(rng, (245, 245, 245), 10)
    img = Image.new("RGB", (ctx.width, ctx.height), bg)
    labels: list[Label] = []
    if rng.random() < 0.6:
        gap = int(u * rng.uniform(0.5, 3))
        cols, rows = rng.randint(1, 3), rng.randint(2, 4)
        cw, rh = (ctx.width - gap * (cols + 1)) // cols, (ctx.height - gap * (rows + 1)) // rows
        for r in range(rows):
            c = 0
            while c < cols:
                span = min(cols - c, rng.choice((1, 1, 2)))
                photo, cls = ctx.take()
                w = cw * span + gap * (span - 1)
                labels.append(
                    paste(img, fit_cover(photo, w, rh, rng), gap + c * (cw + gap), gap + r * (rh + gap), cls)
                )
                c += span
        return img, labels
    for _ in range(rng.randint(2, 5)):
        photo, cls = ctx.take()
        pic = fit_contain(
            photo, int(ctx.width * rng.uniform(0.3, 0.6)), int(ctx.height * rng.uniform(0.2, 0.4))
        )
        labels.append(_tilted(img, pic, rng, cls, border=int(u * rng.choice((0, 1, 2)))))
    return img, labels


def _tilted(canvas: Image.Image, pic: Image.Image, rng: random.Random, cls: int, border: int) -> Label:
    """Pastes ``pic`` rotated a little, with an optional white print border; box bounds the rotated print."""
    if border:
        framed = Image.new("RGB", (pic.width + 2 * border, pic.height + 2 * border), (255, 255, 255))
        framed.paste(pic, (border, border))
        pic = framed
    rgba = pic.convert("RGBA").rotate(rng.uniform(-20, 20), resample=Image.Resampling.BICUBIC, expand=True)
    x = rng.randint(-rgba.width // 6, max(-rgba.width // 6, canvas.width - rgba.width * 5 // 6))
    y = rng.randint(-rgba.height // 6, max(-rgba.height // 6, canvas.height - rgba.height * 5 // 6))
    canvas.paste(rgba, (x, y), rgba)
    bbox = rgba.getchannel("A").getbbox() or (0, 0, rgba.width, rgba.height)
    return Label(x + bbox[0], y + bbox[1], x + bbox[2], y + bbox[3], cls)


def on_background(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """A product photo over a real photo background (another catalog photo, blurred or cropped hard)."""
    rng = ctx.rng
    bg = fit_cover(ctx.backdrop(), ctx.width, ctx.height, rng)
    bg = bg.filter(ImageFilter.GaussianBlur(ctx.unit * rng.uniform(1.5, 6)))
    img = bg.copy()
    labels: list[Label] = []
    for _ in range(rng.choice((1, 1, 1, 2))):
        photo, cls = ctx.take()
        pic = fit_contain(
            photo, int(ctx.width * rng.uniform(0.35, 0.9)), int(ctx.height * rng.uniform(0.3, 0.7))
        )
        if rng.random() < 0.5:
            labels.append(_tilted(img, pic, rng, cls, border=0))
        else:
            x, y = rng.randint(0, ctx.width - pic.width), rng.randint(0, ctx.height - pic.height)
            labels.append(paste(img, pic, x, y, cls))
    return img, labels


def list_rows(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """Marketplace list: a thumbnail left and text right on each row (held out of training)."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    row_h = int(u * rng.uniform(26, 40))
    thumb = row_h - int(u * 4)
    labels: list[Label] = []
    y = top + int(u * 2)
    while y < bottom:
        d.rectangle((0, y, ctx.width, y + row_h), fill=pal.card)
        photo, cls = ctx.take()
        labels.append(paste(img, fit_cover(photo, thumb, thumb, rng), int(u * 3), y + int(u * 2), cls))
        tx = u * 6 + thumb
        ty = y + u * 2
        ty += text(d, (tx, ty), words(rng, rng.randint(2, 4)), int(u * 4), pal.text, 1)
        ty += text(d, (tx, ty), price(rng), int(u * 4.5), pal.accent, 1)
        text(d, (tx, ty), words(rng, 3), int(u * 3.2), pal.muted)
        y += row_h + int(u * 1)
    restore()
    return img, [cut_to(lb, top, bottom) for lb in labels]


def negative_ui(ctx: Ctx) -> tuple[Image.Image, list[Label]]:
    """Screens with no product: settings lists, chats, articles, icon grids, gradients, blurred scenery."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    kind = rng.randrange(5)
    y = top + int(u * 3)
    if kind == 0:  # chat bubbles
        while y < bottom - u * 10:
            mine = rng.random() < 0.5
            w = ctx.width * rng.uniform(0.3, 0.7)
            h = u * rng.uniform(7, 16)
            x = ctx.width - w - u * 3 if mine else u * 3
            d.rounded_rectangle((x, y, x + w, y + h), radius=u * 3, fill=pal.accent if mine else pal.card)
            text(d, (x + u * 2, y + u * 2), words(rng, rng.randint(2, 5)), int(u * 3.5), pal.text)
            y += int(h + u * 3)
    elif kind == 1:  # settings / article text
        while y < bottom:
            if rng.random() < 0.3:
                icon(d, rng, u * 6, y + u * 3, u * 2.5, pal.accent)
            y += text(d, (u * 12, y), words(rng, rng.randint(3, 9)), int(u * rng.uniform(3, 5)), pal.text)
            if rng.random() < 0.3:
                d.line((u * 3, y, ctx.width - u * 3, y), fill=pal.muted)
                y += int(u * 2)
    elif kind == 2:  # app icon grid
        s = u * rng.uniform(10, 16)
        while y < bottom - s:
            for x in range(int(u * 6), int(ctx.width - s), int(s * 1.6)):
                d.rounded_rectangle((x, y, x + s, y + s), radius=s / 4, fill=random_colour(rng))
                icon(d, rng, x + s / 2, y + s / 2, s / 4, (255, 255, 255))
            y += int(s * 1.8)
    elif kind == 3:  # coloured blocks and gradients (banners without products)
        while y < bottom:
            h = int(u * rng.uniform(10, 35))
            c1, c2 = random_colour(rng), random_colour(rng)
            for i in range(h):
                t = i / max(1, h)
                d.line(
                    (0, y + i, ctx.width, y + i),
                    fill=tuple(int(a + (b - a) * t) for a, b in zip(c1, c2, strict=True)),
                )
            text(d, (u * 4, y + h / 3), words(rng, 3), int(u * 5), (255, 255, 255), 1)
            y += h + int(u * 3)
    else:  # heavy-blurred scenery behind a dialog
        img.paste(
            fit_cover(ctx.backdrop(), ctx.width, ctx.height, rng).filter(ImageFilter.GaussianBlur(u * 8))
        )
        d = ImageDraw.Draw(img)
        x1, y1 = ctx.width * 0.1, ctx.height * rng.uniform(0.25, 0.5)
        d.rounded_rectangle((x1, y1, ctx.width * 0.9, y1 + u * 40), radius=u * 4, fill=pal.card)
        text(d, (x1 + u * 4, y1 + u * 4), words(rng, 3), int(u * 5), pal.text, 1)
    restore()
    return img, []


LAYOUTS: dict[str, Layout] = {
    "grid": shop_grid,
    "social": social_post,
    "fullscreen": fullscreen,
    "collage": collage,
    "background": on_background,
    "list": list_rows,
    "negative": negative_ui,
}
# Share of training images per layout; "list" is held out for the second test set.
TRAIN_MIX: dict[str, float] = {
    "grid": 0.32,
    "social": 0.18,
    "fullscreen": 0.1,
    "collage": 0.12,
    "background": 0.16,
    "negative": 0.12,
}
