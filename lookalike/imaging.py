"""Decode untrusted image bytes once, safely, into an upright RGB image.

Every entry point (API upload, URL, catalog file) goes through ``decode_image`` so the
limits, EXIF orientation and colour-mode rules are the same everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from lookalike.errors import BadImageError, ImageShapeError, ImageTooLargeError
from lookalike.types import DecodedImage

# We enforce our own pixel limit before decoding; Pillow's global guard stays as a backstop.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})


def _pil_open() -> Callable[..., Image.Image]:
    """Pillow's own ``Image.open``, even after ultralytics monkey-patches it.

    ultralytics replaces ``PIL.Image.open`` with a wrapper that, on an unidentified image,
    tries to pip-install and import pi-heif: at request time, with the network when there is
    one, and with an ImportError (a 500) when there is none. Untrusted bytes never go there.
    """
    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None) if patches is not None else None
    return original if callable(original) else Image.open


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (model checkpoints, benchmark manifests); a file
    not changed since (same inode, size and modification time) is not read again: a model's loading
    asks for its hash several times (its runtime choice, int8 copy, bf16 check)."""
    stat = path.stat()
    return _sha256_of(path.resolve(), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_of(path: Path, inode: int, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def decode_image(
    data: bytes,
    *,
    source: str = "",
    max_bytes: int = 20 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    draft_long_side: int | None = None,
    sha256: str | None = None,
    max_aspect_ratio: float | None = None,
    max_full_decode_pixels: int | None = None,
) -> DecodedImage:
    """Decode ``data`` or raise a ``ClientError`` that says exactly what is wrong.

    ``draft_long_side`` lets a large JPEG decode at a reduced DCT scale (1/2, 1/4, 1/8) while
    its long side stays at least that many pixels: several times less decode work for phone
    screenshots. Formats without a reduced-scale decode (PNG, WebP, TIFF, ...) are box-averaged
    down to the same bound right after decoding, so the detector and the embedder never work on
    40 million pixels (a 40 Mpx PNG cost 11.9x a screenshot). ``DecodedImage.scale`` records the
    reduction so boxes map back.
    ``max_full_decode_pixels``: the lower pixel limit of formats decoded at full size (all but JPEG).
    ``max_aspect_ratio`` refuses long, thin images (a 440-byte 60000x2 PNG) before any pixel is decoded.
    """
    if not data:
        raise BadImageError(f"{source or 'image'}: empty body, expected image bytes")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"{source or 'image'}: {len(data)} bytes is over the limit of {max_bytes} bytes"
        )
    digest = sha256 or sha256_hex(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = _pil_open()(io.BytesIO(data))
            if img.format not in ACCEPTED_FORMATS:
                raise BadImageError(f"{source or 'image'}: format {img.format} is not accepted")
            width, height = img.size
            if width <= 0 or height <= 0:
                raise BadImageError(f"{source or 'image'}: image has no pixels")
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{source or 'image'}: {width}x{height} = {width * height} pixels is over "
                    f"the limit of {max_pixels} pixels"
                )
            if (
                max_full_decode_pixels is not None
                and img.format != "JPEG"
                and width * height > max_full_decode_pixels
            ):
                raise ImageTooLargeError(
                    f"{source or 'image'}: {width}x{height} = {width * height} pixels is over the limit of "
                    f"{max_full_decode_pixels} pixels for {img.format} images (a JPEG may have {max_pixels})"
                )
            if max_aspect_ratio is not None and max(width, height) > max_aspect_ratio * min(width, height):
                raise ImageShapeError(
                    f"{source or 'image'}: {width}x{height} is longer than {max_aspect_ratio:g} times its "
                    "width; crop it to the part to search"
                )
            long_side = draft_long_side or 0
            drafted = img.format == "JPEG" and 0 < long_side < max(width, height)
            if drafted:
                ratio = long_side / max(width, height)
                img.draft("RGB", (max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))))
            img.seek(0)  # GIF / multi-frame: first frame
            img.load()
            scale = img.size[0] / width
            ImageOps.exif_transpose(img, in_place=True)  # without the tag, no copy of the pixels
            rgb = _to_rgb(img)
            if long_side and not drafted and max(rgb.size) >= 2 * long_side:
                rgb, scale = _reduced(rgb, max(rgb.size) // long_side, scale)
    except (BadImageError, ImageTooLargeError, ImageShapeError):
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{source or 'image'}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise BadImageError(f"{source or 'image'}: not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise BadImageError(f"{source or 'image'}: corrupt or truncated image ({exc})") from exc
    return DecodedImage(pixels=rgb, sha256=digest, source=source, scale=scale)


def _reduced(rgb: Image.Image, factor: int, scale: float) -> tuple[Image.Image, float]:
    """``rgb`` shrunk by an integer ``factor`` (each output pixel the mean of a factor x factor
    block: no aliasing), and the scale against the upload that comes with it."""
    small = rgb.reduce(factor)
    return small, scale * small.size[0] / rgb.size[0]


def _to_rgb(img: Image.Image) -> Image.Image:
    """Flatten alpha onto white and convert CMYK, grayscale and palette images to RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")
