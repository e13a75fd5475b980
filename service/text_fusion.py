"""Hybrid ranking: the visual ranking of a region re-ranked by a text match of the words read.

A weighted sum: each visual candidate scores its cosine similarity plus ``text_weight`` times
its text relevance relative to the best text match among the region's candidates (0..1). The
relative relevance makes the BM25 (SQLite) and ``ts_rank`` (PostgreSQL) scales alike, and the
cosine keeps its magnitude: look-alikes a few thousandths apart are re-ordered by their words,
while an item that looks clearly worse needs a clearly better text match to move up (rank
fusion, tried first, threw those gaps away: a look-alike at visual rank 1 kept its place over
the right item at rank 3 with the better words). Only the visual candidates are re-ranked:
text never brings in an item that looks nothing like the crop.

Words that match a large share of the catalog ("Seller" in every brand of the demo catalog,
a category name) say nothing about which item is meant and are dropped first
(``telling_words``); so is everything when there is no text at all, and then the visual
ranking is returned untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

VISUAL = "visual"
TEXT = "text"


MIN_TELLING_ITEMS = 10
"""A word matching this few items always tells (in a small catalog, a share is a handful)."""


def telling_words(words: Sequence[str], counts: Mapping[str, int], total: int, max_share: float) -> list[str]:
    """The words that match at least one item, and at most ``max_share`` of the catalog or
    ``MIN_TELLING_ITEMS`` items, whichever is more."""
    limit = max(float(MIN_TELLING_ITEMS), max_share * total)
    return [w for w in words if 0 < counts.get(w, 0) <= limit]


def fuse(
    visual: Sequence[tuple[str, float]],
    text: Sequence[tuple[str, float]],
    *,
    k: int,
    text_weight: float,
) -> list[tuple[str, float, tuple[str, ...]]]:
    """(item, score, signals) of the best ``k`` visual candidates by fused score; the score is the
    fused one where the words matched (so merging regions by score keeps the fused order).

    ``visual`` is best first; ``text`` holds (item, relevance > 0) of candidates the words matched."""
    best = max((relevance for _, relevance in text), default=0.0)
    if best <= 0.0:
        return [(item, score, (VISUAL,)) for item, score in visual[:k]]
    relevance = dict(text)
    fused = []
    for position, (item, score) in enumerate(visual):
        share = relevance.get(item, 0.0) / best
        signals = (VISUAL, TEXT) if share > 0.0 else (VISUAL,)
        fused.append((score + text_weight * share, -position, item, signals))
    fused.sort(reverse=True)
    return [(item, value, signals) for value, _, item, signals in fused[:k]]
