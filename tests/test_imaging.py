"""Decoding untrusted bytes: the formats we accept, and a clear error for everything else."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import BadImageError, ImageTooLargeError
from lookalike.imaging import decode_image
from tests.images import clothing_photos, encode


def photo() -> Image.Image:
    return Image.open(clothing_photos(1)[0]).convert("RGB")


def test_jpeg_decodes_to_rgb_with_content_hash() -> None:
    data = clothing_photos(1)[0].read_bytes()
    img = decode_image(data, source="a.jpg")
    assert img.pixels.mode == "RGB" and img.width > 0
    assert img.sha256 == __import__("hashlib").sha256(data).hexdigest()


def test_exif_orientation_is_honoured() -> None:
    base = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img = decode_image(encode(base, "JPEG", exif=exif))
    assert (img.width, img.height) == (20, 40)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGBA", "PNG"),
        ("CMYK", "JPEG"),
        ("L", "PNG"),
        ("RGB", "WEBP"),
        ("P", "GIF"),
        ("LA", "PNG"),
        ("I;16", "PNG"),
    ],
)
def test_colour_modes_and_formats_become_rgb(mode: str, fmt: str) -> None:
    img = photo().convert(mode) if mode != "I;16" else photo().convert("L").convert("I;16")
    decoded = decode_image(encode(img, fmt))
    assert decoded.pixels.mode == "RGB"
    assert decoded.pixels.size == img.size


def test_alpha_is_flattened_onto_white() -> None:
    transparent = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    decoded = decode_image(encode(transparent, "PNG"))
    assert decoded.pixels.getpixel((3, 3)) == (255, 255, 255)


def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("P", (10, 10), c) for c in (1, 2, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert decode_image(buf.getvalue()).pixels.size == (10, 10)


def test_not_an_image_is_a_bad_image() -> None:
    with pytest.raises(BadImageError, match="not a recognised image"):
        decode_image(b"%PDF-1.4 hello")


def test_empty_body_is_a_bad_image() -> None:
    with pytest.raises(BadImageError, match="empty"):
        decode_image(b"")


def test_truncated_jpeg_is_a_bad_image() -> None:
    data = clothing_photos(1)[0].read_bytes()
    with pytest.raises(BadImageError, match="truncated"):
        decode_image(data[: len(data) // 2])


def test_over_the_byte_limit_is_too_large() -> None:
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(b"x" * 101, max_bytes=100)


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG claiming huge dimensions: the shape of a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(png_header_only(50_000, 50_000), max_pixels=40_000_000)


def test_formats_decoded_at_full_size_have_the_lower_pixel_limit() -> None:
    """A 25 Mpx PNG is refused before decoding (413); the JPEG limit (max_pixels) is not theirs."""
    with pytest.raises(ImageTooLargeError, match="limit of 24000000 pixels for PNG images"):
        decode_image(png_header_only(5000, 5000), max_pixels=40_000_000, max_full_decode_pixels=24_000_000)
    with pytest.raises(BadImageError):  # under it: decoded (and these bytes are truncated)
        decode_image(png_header_only(4000, 4000), max_pixels=40_000_000, max_full_decode_pixels=24_000_000)


def test_large_jpeg_decodes_at_reduced_dct_scale_and_remembers_it() -> None:
    big = photo().resize((1170, 2532))
    img = decode_image(encode(big, "JPEG", quality=85), draft_long_side=1024)
    assert img.scale == 0.5 and (img.width, img.height) == (585, 1266)
    assert (img.original_width, img.original_height) == (1170, 2532)
    small = decode_image(encode(photo(), "JPEG"), draft_long_side=1024)
    assert small.scale == 1.0
    eighth = decode_image(encode(big, "JPEG", quality=85), draft_long_side=100)
    assert (eighth.width, eighth.height) == (147, 317)  # 1/8 DCT scale, not box-averaged again


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_large_images_of_formats_without_a_dct_scale_are_reduced_right_after_decoding(fmt: str) -> None:
    """Bounded like a JPEG: a 40 Mpx PNG must not reach the detector and the embedder at full size."""
    big = photo().resize((2400, 5200))
    img = decode_image(encode(big, fmt), draft_long_side=1024)
    assert (img.width, img.height) == (480, 1040) and img.scale == 0.2
    assert (img.original_width, img.original_height) == (2400, 5200)
    assert abs(np.asarray(img.pixels, dtype=float).mean() - np.asarray(big.reduce(5), dtype=float).mean()) < 2
    assert decode_image(encode(big.resize((1200, 2047)), fmt), draft_long_side=1024).scale == 1.0
    assert decode_image(encode(big, fmt)).scale == 1.0  # catalog photos: full size


def test_garbage_is_a_bad_image_even_after_ultralytics_patches_pillow() -> None:
    import ultralytics.utils.patches  # noqa: F401  (replaces PIL.Image.open)

    with pytest.raises(BadImageError, match="not a recognised image"):
        decode_image(b"\x00\x01garbage" * 100)
