"""A Pillow image's pixels as a numpy array without Pillow's repack, where it can be had.

Pillow keeps an RGB image as four bytes a pixel (RGBX); ``np.asarray`` packs them into three, a
copy of the whole image (0.5 ms for a 585x1266 screenshot, 0.6-0.8 ms inside a search). Pillow's
Arrow export hands out the RGBX block itself; a caller that shrinks the image first (the
detector's letterbox) resizes the four channels and drops the fourth afterwards, the same values
for a fifth of the memory traffic.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def rgbx_or_rgb(image: Image.Image) -> np.ndarray:
    """(h, w, 4) RGBX, a read-only view of the pixels, for an RGB image Pillow holds in one block;
    else (h, w, 3) RGB (a copy: other modes, and images too big for one block)."""
    if image.mode == "RGB":
        import pyarrow as pa

        try:
            exported = pa.array(image)
        except ValueError:  # rows spread over several blocks (images of tens of megabytes)
            return np.asarray(image)
        values = exported.values  # fixed_size_list<uint8>[4]: one list per pixel
        if exported.type.list_size == 4 and exported.offset == 0 and values.offset == 0:
            data = np.frombuffer(values.buffers()[1], np.uint8, count=image.width * image.height * 4)
            return data.reshape(image.height, image.width, 4)
        return np.asarray(image)
    return np.asarray(image.convert("RGB"))


def rgb_of(pixels: np.ndarray) -> np.ndarray:
    """The three colour channels of ``rgbx_or_rgb``'s array, contiguous (OpenCV wants them so)."""
    return np.ascontiguousarray(pixels[..., :3]) if pixels.shape[2] == 4 else pixels


__all__ = ["rgb_of", "rgbx_or_rgb"]
