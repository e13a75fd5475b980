"""Why this match: occlusion sensitivity of the query crop against a matched item's vectors.

The crop is cut into a ``grid`` x ``grid`` lattice; for each cell, a copy of the crop with a
square of the crop's mean colour (``window`` cells wide, centred on the cell) hides that part.
All copies and the crop itself go through the embedder in one batch, and each cell's value is
the cosine to the item lost with it hidden: large where the part mattered to the match, near 0
where it did not, negative where hiding it made the crop look *more* like the item. The item's
side is its vectors in the index (the nearest one to the crop), so the map explains the very
score the search ranked by. No gradients: any embedder (ONNX, Triton, OpenVINO) can be explained.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from lookalike.types import Explanation

Embed = Callable[[Sequence[Image.Image]], npt.NDArray[np.float32]]

# A dark-blue -> red -> yellow ramp (inferno-like): low drops dark, the cells that mattered bright.
_RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)


@dataclass(frozen=True)
class ExplainOptions:
    """See ``ExplainSettings``."""

    grid: int = 7
    window: int = 2
    heatmap_side: int = 224


def occluded_copies(crop: Image.Image, grid: int, window: int) -> list[Image.Image]:
    """One copy of ``crop`` per cell, row by row, with a mean-coloured square centred on the cell."""
    rgb = crop.convert("RGB")
    w, h = rgb.size
    mean = tuple(int(v) for v in np.asarray(rgb, dtype=np.float32).reshape(-1, 3).mean(axis=0))
    cw, ch = w / grid, h / grid
    copies = []
    for row in range(grid):
        for col in range(grid):
            cx, cy = (col + 0.5) * cw, (row + 0.5) * ch
            half_w, half_h = window * cw / 2, window * ch / 2
            x0, y0 = round(cx - half_w), round(cy - half_h)
            x1, y1 = max(x0, round(cx + half_w) - 1), max(y0, round(cy + half_h) - 1)  # a crop of 2 px too
            copy = rgb.copy()
            ImageDraw.Draw(copy).rectangle((x0, y0, x1, y1), fill=mean)
            copies.append(copy)
    return copies


def occlusion_grid(
    crop: Image.Image, targets: npt.NDArray[np.float32], embed: Embed, options: ExplainOptions
) -> tuple[npt.NDArray[np.float32], float]:
    """The (grid, grid) cosine drops and the baseline cosine, from one batch through ``embed``."""
    if len(targets) == 0:
        raise ValueError("the item has no vector in this index version")
    batch = [crop.convert("RGB"), *occluded_copies(crop, options.grid, options.window)]
    vectors = np.asarray(embed(batch), dtype=np.float32)
    target = targets[int(np.argmax(targets @ vectors[0]))]  # the item's vector nearest the crop
    cosines = vectors @ target
    base = float(cosines[0])
    return (base - cosines[1:]).reshape(options.grid, options.grid).astype(np.float32), base


def heatmap_png(crop: Image.Image, grid: npt.NDArray[np.float32], side: int) -> tuple[bytes, int, int]:
    """The grid, scaled to 0..1 by its largest drop, smoothed over the crop and blended with it."""
    w, h = crop.size
    scale = side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    peak = float(grid.max())
    norm = np.clip(grid / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(grid)
    cells = Image.fromarray((norm * 255).astype(np.uint8), mode="L")
    smooth = np.asarray(cells.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    stops = np.linspace(0.0, 1.0, len(_RAMP))
    colour = np.stack([np.interp(smooth, stops, _RAMP[:, c]) for c in range(3)], axis=-1)
    base = np.asarray(crop.convert("RGB").resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    blended = (0.45 * base + 0.55 * colour).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(blended).save(buf, "PNG", optimize=True)
    return buf.getvalue(), size[0], size[1]


class Explainer:
    """Occlusion heatmaps, kept by (image hash, box, item, models, options) in a small LRU."""

    def __init__(self, options: ExplainOptions | None = None, cache_entries: int = 512) -> None:
        self.options = options or ExplainOptions()
        self.cache_entries = cache_entries
        self._cache: OrderedDict[str, Explanation] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, image_sha256: str, box: Sequence[float], item_id: str, models: str) -> str:
        o = self.options
        box_text = ",".join(f"{v:.1f}" for v in box)
        return f"{image_sha256}|{box_text}|{item_id}|{models}|{o.grid}x{o.window}@{o.heatmap_side}"

    def cached(self, key: str) -> Explanation | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def explain(
        self, crop: Image.Image, targets: npt.NDArray[np.float32], embed: Embed, key: str | None = None
    ) -> Explanation:
        """The heatmap of ``crop`` against ``targets`` (the item's vectors); cached under ``key``."""
        if key is not None:
            hit = self.cached(key)
            if hit is not None:
                return hit
        grid, base = occlusion_grid(crop, targets, embed, self.options)
        png, width, height = heatmap_png(crop, grid, self.options.heatmap_side)
        out = Explanation(
            grid=[[round(float(v), 4) for v in row] for row in grid],
            score=round(base, 4),
            png_base64=base64.b64encode(png).decode("ascii"),
            width=width,
            height=height,
        )
        if key is not None and self.cache_entries > 0:
            with self._lock:
                self._cache[key] = out
                while len(self._cache) > self.cache_entries:
                    self._cache.popitem(last=False)
        return out


__all__ = ["ExplainOptions", "Explainer", "heatmap_png", "occluded_copies", "occlusion_grid"]
