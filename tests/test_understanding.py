"""Reading a screenshot's text with the packaged PP-OCR models, and turning it into query words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from lookalike.imaging import sha256_hex
from lookalike.settings import UnderstandingSettings
from lookalike.types import Box, DecodedImage, TextLine
from tests.images import clothing_photos, encode
from understanding import ScreenReader, TextReader, choose_lines, find_prices, query_words, tie_lines

PHOTO_BOX = (135, 300, 1035, 1400)


def shop_screenshot() -> Image.Image:
    """A phone-sized product page: a real clothing photo, the brand, title and price under it,
    a hashtag-and-emoji caption and the status bar clock."""
    shot = Image.new("RGB", (1170, 2532), (255, 255, 255))
    with Image.open(clothing_photos(1)[0]) as photo:
        x1, y1, x2, y2 = PHOTO_BOX
        shot.paste(photo.convert("RGB").resize((x2 - x1, y2 - y1)), (x1, y1))
    draw = ImageDraw.Draw(shot)

    def write(xy: tuple[int, int], text: str, size: int, fill: tuple[int, int, int] = (20, 20, 20)) -> None:
        draw.text(xy, text, fill=fill, font=ImageFont.load_default(size=size))

    write((60, 80), "9:41", 44)
    write((135, 1430), "ZARA", 64)
    write((135, 1520), "Linen blend shirt", 56)
    write((135, 1610), "$39.90", 56, (200, 0, 0))
    write((135, 1700), "#ootd \U0001f525 love it", 44)
    return shot


def decoded(img: Image.Image) -> DecodedImage:
    return DecodedImage(img, sha256_hex(encode(img, "PNG")))


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def test_ocr_reads_the_title_brand_and_price_of_a_rendered_screenshot(
    reader: TextReader, no_network: list[Any]
) -> None:
    lines = reader.read(shop_screenshot())
    texts = [line.text for line in lines]
    assert "ZARA" in texts
    assert "Linen blend shirt" in texts
    assert "$39.90" in texts
    title = next(line for line in lines if line.text == "Linen blend shirt")
    assert 100 <= title.box.x1 <= 160 and 1500 <= title.box.y1 <= 1560 and title.score > 0.8
    assert no_network == []


def test_the_words_of_a_screenshot_leave_out_prices_hashtags_emoji_and_chrome(reader: TextReader) -> None:
    words = query_words(*(line.text for line in reader.read(shop_screenshot())))
    assert words.words[:4] == ("zara", "linen", "blend", "shirt")
    assert not {"ootd", "39", "90", "9", "41"} & set(words.words)
    assert [(p.amount, p.currency) for p in words.prices] == [(39.9, "USD")]


@pytest.mark.parametrize(
    ("text", "words", "prices"),
    [
        ("Linen blend shirt 🔥🔥 #ootd @zara_official", ("linen", "blend", "shirt"), []),
        ("1.299,00 € Nike Air Max 90", ("nike", "air", "max"), [(1299.0, "EUR")]),
        ("EUR 49 | Add to bag", (), [(49.0, "EUR")]),
        ("Levi's 501 jeans x200 https://shop.example/levis", ("levi's", "jeans", "x200"), []),
        ("Sponsored · 12:30 · 87% ▮", (), []),
        ("", (), []),
    ],
)
def test_query_words(text: str, words: tuple[str, ...], prices: list[tuple[float, str]]) -> None:
    found = query_words(text)
    assert found.words == words
    assert [(p.amount, p.currency) for p in found.prices] == prices
    assert [(p.amount, p.currency) for p in find_prices(text)] == prices


def line(text: str, x1: float, y1: float, x2: float, y2: float) -> TextLine:
    return TextLine(text, Box(x1, y1, x2, y2), 0.9)


def test_lines_are_tied_to_the_card_they_sit_in_under_or_beside() -> None:
    left, right = Box(0, 100, 500, 700), Box(600, 100, 1100, 700)
    lines = [
        line("header", 0, 10, 400, 60),
        line("left title", 10, 710, 400, 750),
        line("right title", 610, 720, 1000, 760),
        line("print on the shirt", 700, 300, 900, 340),
        line("far below", 10, 1500, 400, 1540),
        line("beside the right one", 1120, 300, 1160, 330),
    ]
    (on_left, on_right), loose = tie_lines(lines, [left, right])
    assert [t.text for t in on_left] == ["left title"]
    assert [t.text for t in on_right] == ["right title", "print on the shirt", "beside the right one"]
    assert [t.text for t in loose] == ["header", "far below"]


def test_nested_regions_give_a_line_to_the_smallest() -> None:
    whole, shoe = Box(0, 0, 1000, 1000), Box(100, 100, 300, 300)
    (on_whole, on_shoe), loose = tie_lines([line("sneaker", 120, 150, 280, 180)], [whole, shoe])
    assert (on_whole, [t.text for t in on_shoe], loose) == ([], ["sneaker"], [])


def test_screen_reader_modes_probe_and_cache() -> None:
    screen = ScreenReader(UnderstandingSettings())
    shot, blank = decoded(shop_screenshot()), decoded(Image.new("RGB", (600, 1300), (240, 240, 240)))
    assert screen.read(shot, "off").lines == [] and screen._reader is None  # off: nothing loads

    nothing = screen.read(blank, "auto")
    assert (nothing.read, nothing.lines, set(nothing.timings_ms)) == (False, [], {"ocr_probe"})

    first = screen.read(shot, "auto")
    assert first.read and "ocr" in first.timings_ms
    assert "Linen blend shirt" in [t.text for t in first.lines]
    again = screen.read(shot, "always")
    assert again.lines == first.lines and again.timings_ms["ocr_cached"] == 1.0
    assert "ocr_detect" not in again.timings_ms and "ocr_recognise" not in again.timings_ms

    always_blank = screen.read(blank, "always")
    assert always_blank.read and always_blank.lines == []


def test_only_the_lines_of_the_product_regions_are_recognised() -> None:
    """The card's brand, title and price under the photo are read; the status bar clock and the
    caption further down are not (recognition is what reading costs): the only loose line is the
    clock, in the status bar."""
    screen = ScreenReader(UnderstandingSettings(cache_entries=4, lines_per_region=3, loose_lines=2))
    shot = decoded(shop_screenshot())
    found = screen.find(shot, "always")
    assert found.lines is not None and len(found.lines.quads) >= 5  # clock, brand, title, price, caption
    photo = Box(*map(float, PHOTO_BOX))
    read = screen.recognise(shot, found, [photo])
    assert [t.text for t in read.lines] == ["ZARA", "Linen blend shirt", "$39.90"]
    assert read.timings_ms["ocr_lines"] == 3

    # a second search of the same screenshot, another way: only the lines not read yet are read
    every = screen.read(shot, "always", None)
    assert {"9:41", "ZARA", "Linen blend shirt", "$39.90"} <= {t.text for t in every.lines}
    assert every.timings_ms["ocr_lines"] == len(found.lines.quads) - 3


def test_choose_lines_under_inside_beside_then_the_tallest_loose_ones() -> None:
    card, other = Box(0, 100, 500, 700), Box(600, 100, 1100, 700)
    boxes = [
        Box(20, 10, 200, 60),  # 0 status bar (tall)
        Box(20, 300, 300, 330),  # 1 print inside the card
        Box(10, 710, 400, 750),  # 2 brand under the card
        Box(10, 760, 400, 790),  # 3 title under the card
        Box(10, 800, 200, 830),  # 4 price under the card
        Box(610, 720, 900, 750),  # 5 the other card's title
        Box(20, 2000, 300, 2020),  # 6 tab bar (short)
    ]
    assert choose_lines(boxes, [card], per_region=3, loose=1) == [0, 2, 3, 4]
    assert choose_lines(boxes, [card], per_region=4, loose=0) == [1, 2, 3, 4]
    assert choose_lines(boxes, [card, other], per_region=1, loose=0) == [2, 5]
    assert choose_lines(boxes, [], per_region=1, loose=1) == [0, 2]
    # a phone's status bar (the clock) is never a loose line worth reading
    assert choose_lines(boxes, [card], per_region=3, loose=1, status_bar=80) == [2, 3, 4, 5]


def test_a_draft_decoded_screenshot_is_read_at_the_searched_scale() -> None:
    """A big JPEG the search decodes at half size is read from those pixels: the detector sees
    them at its own input size anyway and each line is scaled to 48 px; the boxes are where the
    regions are."""
    from lookalike.imaging import decode_image

    data = encode(shop_screenshot(), "JPEG", quality=90)
    draft = decode_image(data, draft_long_side=1024)
    assert draft.scale < 1.0
    screen = ScreenReader(UnderstandingSettings(cache_entries=0))
    found = screen.read(draft, "always")
    texts = [t.text for t in found.lines]
    assert {"ZARA", "Linen blend shirt", "$39.90"} <= set(texts)
    title = next(t for t in found.lines if t.text == "Linen blend shirt")
    assert abs(title.box.y1 - 1520 * draft.scale) < 20 * draft.scale


@pytest.mark.slow
def test_auto_times_the_ocr_models_on_real_sizes_and_the_winner_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models' dimensions are dynamic: ``auto`` times them on a 48x320 line and a phone screen
    at the detector's size (1x1 inputs fail PP-OCR's pooling in OpenVINO), and whichever engine
    wins reads the card (the suite otherwise takes the rules' choice and hides bf16, conftest).
    Where the CPU has no bf16, ONNX Runtime fp32 is the only candidate and is taken unmeasured."""
    from lookalike import cpu_features, model_runtime, onnx_sessions

    real = cpu_features.this_cpu()
    monkeypatch.setattr(onnx_sessions, "this_cpu", lambda: real)
    monkeypatch.setattr(onnx_sessions, "auto_candidates", model_runtime.auto_candidates)
    screen = ScreenReader(UnderstandingSettings(cache_entries=0), export_dir=tmp_path)
    for session in (screen.reader.detector, screen.reader.recogniser):
        if real.native_bf16:
            assert session.choice.reason.startswith("measured"), session.choice
        else:
            assert (session.choice.engine, session.choice.precision) == ("onnxruntime", "fp32")
    texts = {t.text for t in screen.read(decoded(shop_screenshot()), "always").lines}
    assert {"ZARA", "Linen blend shirt", "$39.90"} <= texts
