"""Layouts that show people wearing garments: the photo itself, feed posts, stories, collages,
shop-the-look screens and shop grids of model shots.

Each people photo carries its own boxes (one per worn garment); every placement here scales,
crops and shifts them with the pixels, and ``dataset.compose_image`` later drops what is hidden.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFilter

from detector.training.draw import (
    MIN_VISIBLE,
    Label,
    Palette,
    fit_contain,
    icon,
    paste,
    price,
    random_colour,
    text,
    words,
)
from detector.training.layouts import Ctx, Layout, app_chrome, cut_to, post_actions, post_author

Picture = tuple[Image.Image, list[Label]]


def _person(ctx: Ctx) -> Picture:
    if ctx.person is None:
        raise ValueError("people layouts need people photos (make-dataset --people-dir)")
    return ctx.person()


def moved(labels: list[Label], scale_x: float, scale_y: float, dx: float, dy: float) -> list[Label]:
    """Labels after the picture is scaled and its top-left corner lands at (dx, dy)."""
    return [
        Label(b.x1 * scale_x + dx, b.y1 * scale_y + dy, b.x2 * scale_x + dx, b.y2 * scale_y + dy, b.cls)
        for b in labels
    ]


def cover(pic: Picture, w: int, h: int, rng: random.Random) -> Picture:
    """Scale to fill ``w x h`` and crop the overflow at a random offset, labels along."""
    photo, labels = pic
    w, h = max(1, w), max(1, h)
    scale = max(w / photo.width, h / photo.height)
    rw, rh = max(w, round(photo.width * scale)), max(h, round(photo.height * scale))
    x0, y0 = rng.randint(0, rw - w), rng.randint(0, rh - h)
    out = photo.resize((rw, rh), Image.Resampling.BILINEAR).crop((x0, y0, x0 + w, y0 + h))
    return out, inside(moved(labels, rw / photo.width, rh / photo.height, -x0, -y0), w, h)


def inside(labels: list[Label], w: int, h: int) -> list[Label]:
    """Labels clipped to a cropped picture; one mostly cut away is no longer that garment's box."""
    out = []
    for b in labels:
        c = b.clipped(w, h)
        if b.area > 0 and c.area / b.area >= MIN_VISIBLE:
            out.append(c)
    return out


def contain(pic: Picture, w: int, h: int) -> Picture:
    photo, labels = pic
    out = fit_contain(photo, w, h)
    return out, moved(labels, out.width / photo.width, out.height / photo.height, 0, 0)


def put(canvas: Image.Image, pic: Picture, x: int, y: int) -> list[Label]:
    canvas.paste(pic[0], (x, y))
    return moved(pic[1], 1.0, 1.0, x, y)


def _uncovered(b: Label, cover: Label) -> float:
    w = max(0.0, min(b.x2, cover.x2) - max(b.x1, cover.x1))
    h = max(0.0, min(b.y2, cover.y2) - max(b.y1, cover.y1))
    return b.area - w * h


def person_photo(ctx: Ctx) -> Picture:
    """The photo as it was shared or saved: whole, or cropped by up to a fifth on each side."""
    rng = ctx.rng
    photo, labels = _person(ctx)
    if rng.random() < 0.6:
        return photo, labels
    w, h = photo.size
    x0, y0 = int(w * rng.uniform(0, 0.2)), int(h * rng.uniform(0, 0.2))
    x1, y1 = w - int(w * rng.uniform(0, 0.2)), h - int(h * rng.uniform(0, 0.2))
    return photo.crop((x0, y0, x1, y1)), inside(moved(labels, 1.0, 1.0, -x0, -y0), x1 - x0, y1 - y0)


def person_post(ctx: Ctx) -> Picture:
    """A feed of posts showing people: avatar and name, the photo (4:5, square or as shot), actions."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    labels: list[Label] = []
    y = top - (rng.randint(0, ctx.height // 3) if rng.random() < 0.4 else 0)
    while y < bottom:
        y = post_author(d, ctx, pal, y)
        pic = _person(ctx)
        margin = 0 if rng.random() < 0.8 else int(u * 3)
        pw = ctx.width - 2 * margin
        ratio = rng.choice((1.25, 1.0, pic[0].height / pic[0].width))
        ph = int(pw * ratio)
        labels += put(img, cover(pic, pw, ph, rng), margin, y)
        y = post_actions(d, ctx, pal, y + ph + int(u * 2))
    restore()
    return img, [cut_to(lb, top, bottom) for lb in labels]


def person_story(ctx: Ctx) -> Picture:
    """A story: the photo fills the screen (or sits on a blurred copy of itself), progress bars,
    name, a sticker or caption, a reply field."""
    rng, u = ctx.rng, ctx.unit
    pic = _person(ctx)
    if rng.random() < 0.6:
        img, labels = cover(pic, ctx.width, ctx.height, rng)
    else:
        bg = cover(pic, ctx.width, ctx.height, rng)[0].filter(ImageFilter.GaussianBlur(u * 4))
        img = bg.copy()
        inner = contain(pic, ctx.width, int(ctx.height * rng.uniform(0.6, 0.9)))
        labels = put(
            img, inner, (ctx.width - inner[0].width) // 2, rng.randint(0, ctx.height - inner[0].height)
        )
    d = ImageDraw.Draw(img)
    white = (255, 255, 255)
    n = rng.randint(1, 5)
    seg = (ctx.width - u * 4) / n
    for i in range(n):
        d.rectangle((u * 2 + i * seg, u * 2, u * 2 + (i + 1) * seg - u, u * 2.6), fill=white)
    d.ellipse((u * 3, u * 5, u * 10, u * 12), fill=random_colour(rng))
    text(d, (u * 12, u * 6.5), words(rng, 2), int(u * 3.5), white, 1)
    if rng.random() < 0.5:  # a caption or sticker over the picture hides what it covers
        sx, sy = rng.uniform(u * 5, ctx.width * 0.5), rng.uniform(ctx.height * 0.15, ctx.height * 0.8)
        sticker = Label(sx, sy, sx + u * 40, sy + u * 9, -1)
        d.rounded_rectangle((sx, sy, sticker.x2, sticker.y2), radius=u * 2, fill=random_colour(rng))
        text(d, (sx + u * 2, sy + u * 2), words(rng, 3), int(u * 4), white, 1)
        labels = [b for b in labels if _uncovered(b, sticker) >= MIN_VISIBLE * b.area]
    d.rounded_rectangle(
        (u * 3, ctx.height - u * 12, ctx.width - u * 14, ctx.height - u * 4), radius=u * 4, outline=white
    )
    icon(d, rng, ctx.width - u * 8, ctx.height - u * 8, u * 3, white)
    return img, labels


def person_collage(ctx: Ctx) -> Picture:
    """A mosaic of two to six photos, people and sometimes product shots, with thin gaps."""
    rng, u = ctx.rng, ctx.unit
    img = Image.new("RGB", (ctx.width, ctx.height), (255, 255, 255) if rng.random() < 0.6 else (0, 0, 0))
    gap = int(u * rng.uniform(0.3, 2))
    cols, rows = rng.choice(((1, 2), (2, 1), (2, 2), (2, 3), (3, 2)))
    cw, rh = (ctx.width - gap * (cols + 1)) // cols, (ctx.height - gap * (rows + 1)) // rows
    labels: list[Label] = []
    for r in range(rows):
        for c in range(cols):
            x, y = gap + c * (cw + gap), gap + r * (rh + gap)
            if rng.random() < 0.8:
                labels += put(img, cover(_person(ctx), cw, rh, rng), x, y)
            else:
                photo, cls = ctx.take()
                labels.append(paste(img, fit_contain(photo, cw, rh), x, y, cls))
    return img, labels


def shop_the_look(ctx: Ctx) -> Picture:
    """A person photo on top and cards of the products they wear below (a row or a small grid)."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    ph = int((bottom - top) * rng.uniform(0.45, 0.7))
    labels = put(img, cover(_person(ctx), ctx.width, ph, rng), 0, top)
    y = top + ph + int(u * 2)
    y += text(
        d,
        (u * 3, y),
        rng.choice(("Shop the look", "Get the look", "In this photo")),
        int(u * 4.5),
        pal.text,
        1,
    )
    cols = rng.choice((2, 3, 3, 4))
    gap = int(u * 2)
    card = (ctx.width - gap * (cols + 1)) // cols
    if rng.random() < 0.4:  # a horizontal carousel: the last card peeks in from the right
        card += int(u * 8)
    x = gap
    while x < ctx.width and y + card < bottom + card:
        photo, cls = ctx.take()
        d.rounded_rectangle((x, y, x + card, y + card + u * 12), radius=u * 2, fill=pal.card)
        pic = fit_contain(photo, card - 2 * gap, card - 2 * gap)
        labels.append(paste(img, pic, x + (card - pic.width) // 2, y + (card - pic.height) // 2, cls))
        text(d, (x + u, y + card + u), price(rng), int(u * 3.5), pal.text, 1)
        x += card + gap
    restore()
    return img, [cut_to(lb, top, bottom) for lb in labels]


def model_grid(ctx: Ctx) -> Picture:
    """A shop's result grid where the cards show models wearing the products (and some flat shots)."""
    rng, u = ctx.rng, ctx.unit
    pal = Palette.pick(rng)
    img, d, top, bottom, restore = app_chrome(ctx, pal)
    cols = rng.choice((3, 4)) if ctx.width > ctx.height else rng.choice((2, 2, 3))
    gap = int(u * rng.uniform(1, 3))
    cw = (ctx.width - gap * (cols + 1)) // cols
    photo_h = int(cw * rng.choice((1.33, 1.5)))
    caption = int(u * rng.uniform(10, 18))
    labels: list[Label] = []
    y = top + gap - (rng.randint(0, photo_h // 2) if rng.random() < 0.5 else 0)
    while y < bottom:
        for c in range(cols):
            x = gap + c * (cw + gap)
            d.rounded_rectangle((x, y, x + cw, y + photo_h + caption), radius=u * 2, fill=pal.card)
            if rng.random() < 0.75:
                labels += put(img, cover(_person(ctx), cw, photo_h, rng), x, y)
            else:
                photo, cls = ctx.take()
                pic = fit_contain(photo, cw, photo_h)
                labels.append(
                    paste(img, pic, x + (cw - pic.width) // 2, y + (photo_h - pic.height) // 2, cls)
                )
            ty = y + photo_h + u
            ty += text(d, (x + u, ty), words(rng, 2), int(u * 3.2), pal.text)
            text(d, (x + u, ty), price(rng), int(u * 3.6), pal.accent, 1)
        y += photo_h + caption + gap
    restore()
    return img, [cut_to(lb, top, bottom) for lb in labels]


PEOPLE_LAYOUTS: dict[str, Layout] = {
    "person": person_photo,
    "person_post": person_post,
    "person_story": person_story,
    "person_collage": person_collage,
    "shop_the_look": shop_the_look,
    "model_grid": model_grid,
}

# The shipped detector's mix: about half people (a quarter the photos as they are), half the
# catalog-photo screenshots the screenshot benchmarks need ("list" stays held out).
WORN_TRAIN_MIX: dict[str, float] = {
    "person": 0.24,
    "person_post": 0.08,
    "person_story": 0.06,
    "person_collage": 0.05,
    "shop_the_look": 0.05,
    "model_grid": 0.04,
    "grid": 0.15,
    "social": 0.08,
    "fullscreen": 0.05,
    "collage": 0.06,
    "background": 0.07,
    "negative": 0.07,
}
