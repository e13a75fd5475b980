"""The one search pipeline: image -> regions -> vectors -> neighbours -> catalog rows.

The API, ``lookalike eval`` and the benchmarks all call ``SearchService.search``, so what
is measured is what is served.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Literal, Protocol, get_args

from detector import Detector, select_regions
from embedder import Embedder
from index import SearchableIndex, SearchFilter
from lookalike.batching import InFlight
from lookalike.errors import InvalidParameterError
from lookalike.imaging import decode_image, sha256_hex
from lookalike.settings import DetectorSettings
from lookalike.types import Box, CatalogItem, DecodedImage, Match, Region, RegionResult, SearchResult
from service.result_cache import ResultCache, cache_key

MAX_K = 100
RegionMode = Literal["none", "auto", "all"]
"""What a search embeds: the whole image, the detector's regions (the whole image when it finds
none), or both."""
REGION_MODES: tuple[str, ...] = get_args(RegionMode)
# Several regions of one catalog photo can match one query region; fetch extra neighbours
# so k distinct items survive merging.
NEIGHBOUR_OVERSAMPLE = 4


class ItemLookup(Protocol):
    """What search needs from the catalog store: item rows by id, in one round trip."""

    def get_items(self, catalog: str, item_ids: Sequence[str]) -> dict[str, CatalogItem]: ...


class IndexProvider(Protocol):
    """Hands out the live index version of a catalog (lazy-loaded, hot-swappable)."""

    def get(self, catalog: str) -> tuple[str, SearchableIndex]: ...


@dataclass(frozen=True)
class SearchRequest:
    catalog: str
    k: int = 10
    box: Box | None = None
    categories: frozenset[str] | None = None
    min_score: float | None = None
    brands: frozenset[str] | None = None
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool | None = None
    attributes: tuple[tuple[str, str | int | float | bool], ...] = ()
    """Attribute equality filters, (name, value) pairs."""
    regions: RegionMode = "auto"

    def index_filter(self) -> SearchFilter:
        """The restrictions the index applies while searching (not after it, so k stays k)."""
        try:
            return SearchFilter.of(
                categories=self.categories,
                brands=self.brands,
                price_min=self.price_min,
                price_max=self.price_max,
                in_stock=self.in_stock,
                attributes=dict(self.attributes),
            )
        except ValueError as exc:
            raise InvalidParameterError(str(exc)) from exc

    def cache_parts(self) -> tuple[object, ...]:
        box = self.box.as_list() if self.box else None
        cats = sorted(self.categories) if self.categories else None
        others = replace(self.index_filter(), categories=None)
        extra = () if others.empty else (others.describe(),)
        return (self.catalog, self.k, box, cats, self.min_score, self.regions, *extra)

    def validate(self, image: DecodedImage) -> None:
        if not 1 <= self.k <= MAX_K:
            raise InvalidParameterError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if self.regions not in REGION_MODES:
            raise InvalidParameterError(
                f"regions must be one of {', '.join(REGION_MODES)}, got {self.regions!r}"
            )
        if self.box is not None and self.regions != "auto":
            raise InvalidParameterError("a box searches the tapped box only; leave regions out")
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise InvalidParameterError(f"price_min {self.price_min} is above price_max {self.price_max}")
        self.index_filter()
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise InvalidParameterError(f"min_score must be between -1 and 1, got {self.min_score}")
        if self.box is not None:
            b = self.box
            if not (b.x2 > b.x1 and b.y2 > b.y1):
                raise InvalidParameterError(f"box {b.as_list()} must have x2 > x1 and y2 > y1")
            w, h = image.original_width, image.original_height
            if b.x1 < 0 or b.y1 < 0 or b.x2 > w or b.y2 > h:
                raise InvalidParameterError(f"box {b.as_list()} lies outside the {w}x{h} image")
            if b.width < 2 or b.height < 2:
                raise InvalidParameterError(f"box {b.as_list()} is too small to search")


class StageTimer:
    """Collects wall-clock milliseconds per pipeline stage."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0


def merge_neighbours(
    neighbours: Sequence[tuple[str, float]], k: int, min_score: float | None
) -> list[tuple[str, float]]:
    """Best score per item, best first, ties broken by item id for reproducibility."""
    best: dict[str, float] = {}
    for item_id, score in neighbours:
        if min_score is not None and score < min_score:
            continue
        if score > best.get(item_id, float("-inf")):
            best[item_id] = score
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


class SearchService:
    """Composes the stages; holds no per-request state, so it is safe to share."""

    def __init__(
        self,
        detector: Detector,
        embedder: Embedder,
        indexes: IndexProvider,
        items: ItemLookup,
        detector_settings: DetectorSettings,
        cache: ResultCache | None = None,
        draft_long_side: int | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        self.draft_long_side = draft_long_side
        self.in_flight = in_flight or InFlight()
        self.detector = detector
        self.embedder = embedder
        self.indexes = indexes
        self.items = items
        self.detector_settings = detector_settings
        self.cache = cache

    def search_bytes(
        self, data: bytes, request: SearchRequest, *, max_bytes: int, max_pixels: int, source: str = "upload"
    ) -> SearchResult:
        """Search raw upload bytes: answered from the result cache when the same bytes were
        searched with the same parameters against the same index version and models."""
        timer = StageTimer()
        with timer.stage("hash"):
            digest = sha256_hex(data)
        key = None
        if self.cache is not None:
            version, _ = self.indexes.get(request.catalog)
            key = cache_key(digest, version, request.cache_parts(), self.detector.spec, self.embedder.spec)
            hit = self.cache.get(key)
            if hit is not None:
                return replace(hit, timings_ms={**timer.ms, "cache_hit": 1.0})
        with timer.stage("decode"):
            image = decode_image(
                data,
                source=source,
                max_bytes=max_bytes,
                max_pixels=max_pixels,
                sha256=digest,
                draft_long_side=self.draft_long_side,
            )
        result = self.search(image, request, timer)
        if self.cache is not None and key is not None and result.index_version == version:
            self.cache.put(key, result)
        return result

    def detect(self, image: DecodedImage, request: SearchRequest, timer: StageTimer) -> list[Region]:
        full = Box.full(image.width, image.height)
        if request.box is not None:
            return [Region(request.box.scaled(image.scale), None, 1.0)]
        if request.regions == "none":
            return [Region(full, None, 1.0)]
        with timer.stage("detect"):
            found = self.detector.detect([image])[0]
        regions = select_regions(found, image, self.detector_settings)
        if request.regions == "all" and all(r.box != full for r in regions):
            regions.append(Region(full, None, 0.0))
        return regions

    def search(
        self, image: DecodedImage, request: SearchRequest, timer: StageTimer | None = None
    ) -> SearchResult:
        with self.in_flight:  # the batchers read this to decide whether waiting can pay
            return self._search(image, request, timer)

    def _search(self, image: DecodedImage, request: SearchRequest, timer: StageTimer | None) -> SearchResult:
        request.validate(image)
        timer = timer or StageTimer()
        version, index = self.indexes.get(request.catalog)
        regions = self.detect(image, request, timer)
        with timer.stage("embed"):
            vectors = self.embedder.embed_images([image.crop(r.box) for r in regions])
        with timer.stage("search"):
            hits = index.search(vectors, request.k * NEIGHBOUR_OVERSAMPLE, filter=request.index_filter())
            ranked = [
                merge_neighbours(
                    list(
                        zip(index.items_of([n.vector_id for n in row]), (n.score for n in row), strict=True)
                    ),
                    request.k,
                    request.min_score,
                )
                for row in hits
            ]
        with timer.stage("metadata"):
            wanted = sorted({item_id for row in ranked for item_id, _ in row})
            rows = self.items.get_items(request.catalog, wanted)
        to_original = 1.0 / image.scale
        results = [
            RegionResult(
                Region(region.box.scaled(to_original), region.category, region.score),
                [Match(rows[item_id], score) for item_id, score in row if item_id in rows],
            )
            for region, row in zip(regions, ranked, strict=True)
        ]
        return SearchResult(
            catalog=request.catalog,
            index_version=version,
            image_width=image.original_width,
            image_height=image.original_height,
            regions=results,
            timings_ms=timer.ms,
        )


def merged_ranking(result: SearchResult, k: int) -> list[str]:
    """Item ids over all regions, best score first: how a query is judged in evaluation."""
    return [
        item
        for item, _ in merge_neighbours(
            [(m.item.item_id, m.score) for r in result.regions for m in r.matches], k, None
        )
    ]


__all__ = [
    "MAX_K",
    "IndexProvider",
    "ItemLookup",
    "SearchRequest",
    "SearchService",
    "StageTimer",
    "merged_ranking",
]
