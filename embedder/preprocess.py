"""Image -> normalised tensor, the ImageNet way: short side to size, centre crop, mean/std."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STANDARD_SIZE = 224


def vector_space(spec: str, image_size: int) -> str:
    """The name of the vectors ``spec`` makes at this input size. Indexes, the embedding cache and
    the result cache are keyed by it, so vectors made at another size are never mixed in. The
    standard 224 px adds nothing: indexes built before sizes were named still load."""
    return spec if image_size == STANDARD_SIZE else f"{spec}|{image_size}px"


OWN_VECTOR_SPACE_PRECISIONS = frozenset({"int8"})
"""Precisions whose vectors are not searched against fp32 ones: int8 moved MobileNetV2's vectors
(cosine down to 0.985, docs/PRECISION.md); bf16 kept cosine >= 0.999 where measured, so it shares
fp32's space until ``bench.precision_space`` says otherwise."""


def precision_space(space: str, precision: str) -> str:
    """The vector space a model run in ``precision`` makes: fp32's, or its own (``|int8``)."""
    return f"{space}|{precision}" if precision in OWN_VECTOR_SPACE_PRECISIONS else space


# Above this aspect ratio the short-side-first resize would build an intermediate image more
# than this many times the output's area (a 60000x2 PNG: a 6,720,000x224 one, 15 s of CPU).
MAX_INTERMEDIATE_ASPECT = 4.0

REDUCING_GAP = 2.0
"""Pillow pre-shrinks by an integer factor (a box filter) before resampling when the source is at
least twice this many times the output: the values every index was built with."""


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Resize the short side to ``size`` and crop the centre: the work is bounded by the output size.

    Ordinary shapes give the values the indexes were first built with: resize the whole image,
    then crop. Where that resize would not pre-shrink (Pillow's ``reducing_gap``: sources under 4x
    the output, every crop of a search), only the source box that becomes the centre square is
    resampled (``box``, in resize-then-crop's fractional source coordinates): the same filter at
    the same pixel centres without the rows or columns the crop throws away, 1.8x faster on
    screenshot crops, a pixel at most 1 level off (float rounding of the centres). Long, thin
    images resize the centre square of the source, so a cheap upload cannot make a huge
    intermediate image."""
    w, h = img.size
    if max(w, h) <= MAX_INTERMEDIATE_ASPECT * min(w, h):
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        left, top = (nw - size) // 2, (nh - size) // 2
        sx, sy = w / nw, h / nh
        if max(sx, sy) < 2 * REDUCING_GAP:  # no pre-shrink: the box gives resize-then-crop's values
            box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
            return img.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=REDUCING_GAP)
        img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
        return img.crop((left, top, left + size, top + size))
    side = min(w, h)
    x0, y0 = (w - side) / 2, (h - side) / 2
    return img.resize(
        (size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + side, y0 + side), reducing_gap=REDUCING_GAP
    )


def trim_to_aspect(img: Image.Image, max_aspect: float = MAX_INTERMEDIATE_ASPECT) -> Image.Image:
    """The centre of a long, thin image at most ``max_aspect`` long (for preprocessing that is not
    ours, e.g. open_clip's transforms): a centre crop keeps only the middle anyway."""
    w, h = img.size
    if max(w, h) <= max_aspect * min(w, h):
        return img
    long_side = max(1, int(max_aspect * min(w, h)))
    if w > h:
        left = (w - long_side) // 2
        return img.crop((left, 0, left + long_side, h))
    top = (h - long_side) // 2
    return img.crop((0, top, w, top + long_side))


def _rgb(img: Image.Image) -> Image.Image:
    """``img`` in RGB: itself when it already is (``convert`` to the same mode copies every pixel)."""
    return img if img.mode == "RGB" else img.convert("RGB")


Mapper = Callable[[Callable[[Image.Image], np.ndarray], Iterable[Image.Image]], Iterator[np.ndarray]]


def to_array(
    images: Sequence[Image.Image],
    size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    mapper: Mapper = map,
) -> np.ndarray:
    """A (n, 3, size, size) float32 batch, in numpy (the resizes through ``mapper``: Pillow
    releases the GIL while it resamples, so a thread pool's ``map`` spreads them over cores).

    Not torch: its parallel element-wise ops leave OpenMP workers spinning on every core,
    and the ONNX Runtime call that follows ran 4 ms slower per request (16.1 -> 20.3 ms for
    2.5 crops). Same operations in the same order, so the values equal torch's bit for bit."""
    pixels = np.stack(list(mapper(lambda im: np.asarray(resize_center_crop(_rgb(im), size)), images)))
    x = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2), dtype=np.float32)
    x /= np.float32(255.0)
    x -= np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
    x /= np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
    return x


def to_batch(
    images: Sequence[Image.Image],
    size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """A (n, 3, size, size) float32 batch as a torch tensor (for models run in torch)."""
    return torch.from_numpy(to_array(images, size, mean, std))
