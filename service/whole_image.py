"""Cheap retrieval wins applied where a search combines its results: region + whole-image score
fusion and alpha query expansion (``search`` settings; both off by default).

Fusion: a detected region's crop often shows less than the shopper meant (a cut-off product, a
shelf photo's label), while the whole image carries its context. Each candidate item of a region
keeps its region score and gains ``w`` times the same item's similarity to the whole image, over
``1 + w`` so scores stay cosine-like and a region that *is* the whole image keeps its own scores.
The whole image is embedded once per request, in the same embedder batch as the regions, and
searched once, deeper than a region (``whole_image_depth``): an item outside that list scores the
list's last similarity, which bounds its own. Only a region's own candidates are re-scored, so
fusion never brings in an item that looks nothing like the crop.

Alpha query expansion (Radenovic, Tolias, Chum, TPAMI 2019): each region's vector plus its ``n``
nearest catalog vectors weighted by similarity ** alpha, normalised and searched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index import SearchableIndex, SearchFilter
from lookalike.settings import SearchSettings
from lookalike.types import Box, DecodedImage, Neighbour, Region, Vectors


@dataclass(frozen=True)
class Combining:
    """The ``search`` settings one service applies to every search."""

    weight: float = 0.0
    depth: int = 200
    expansion: int = 0
    alpha: float = 3.0

    @classmethod
    def of(cls, settings: SearchSettings | None) -> Combining:
        if settings is None:
            return cls()
        return cls(
            settings.whole_image_fusion,
            settings.whole_image_depth,
            settings.query_expansion,
            settings.query_expansion_alpha,
        )

    def key(self) -> object:
        """Part of the result cache's key when anything is on; None (key unchanged) when off."""
        if self.weight <= 0 and self.expansion <= 0:
            return None
        return {"fusion": self.weight, "depth": self.depth, "qe": self.expansion, "alpha": self.alpha}

    def whole_box(self, image: DecodedImage, tapped: bool, regions: Sequence[Region]) -> Box | None:
        """The whole image, to embed beside the regions; None when fusion is off, for a tapped box
        (the shopper chose exactly what to search), or when every region is the whole image already."""
        if self.weight <= 0 or tapped:
            return None
        full = Box.full(image.width, image.height)
        if all(r.box == full for r in regions):
            return None
        return full


def fuse_whole_image(
    rows: Sequence[Sequence[tuple[str, float]]], whole: Sequence[tuple[str, float]], weight: float
) -> list[list[tuple[str, float]]]:
    """Each region's (item, score) re-scored as (score + weight x whole score) / (1 + weight), best
    first, ties by item id. ``whole`` is the whole image's (item, score), best first; an item not in
    it scores its last score (0 when it is empty)."""
    seen = dict(whole)
    floor = whole[-1][1] if whole else 0.0
    out = []
    for row in rows:
        fused = [(item, (score + weight * seen.get(item, floor)) / (1.0 + weight)) for item, score in row]
        out.append(sorted(fused, key=lambda kv: (-kv[1], kv[0])))
    return out


def expand_queries(
    index: SearchableIndex, vectors: Vectors, n: int, alpha: float, flt: SearchFilter | None
) -> Vectors:
    """Alpha query expansion: each vector plus its ``n`` nearest catalog vectors, weighted by
    similarity ** alpha (only positive similarities), L2-normalised."""
    queries = np.array(vectors, dtype=np.float32, copy=True)
    if n <= 0 or len(queries) == 0:
        return queries
    for i, row in enumerate(index.search(queries, n, filter=flt)):
        q = queries[i].copy()
        for neighbour in row:
            if neighbour.score > 0:
                q += (neighbour.score**alpha) * _vector_of(index, neighbour, queries[i])
        norm = float(np.linalg.norm(q))
        queries[i] = q / norm if norm > 0 else queries[i]
    return queries


def _vector_of(index: SearchableIndex, neighbour: Neighbour, query: Vectors) -> Vectors:
    """The catalog vector behind a neighbour: of its item's vectors, the one whose similarity to the
    query is the neighbour's score."""
    candidates = index.item_vectors(index.item_of(neighbour.vector_id))
    return candidates[int(np.argmin(np.abs(candidates @ query - neighbour.score)))]


__all__ = ["Combining", "expand_queries", "fuse_whole_image"]
