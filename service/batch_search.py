"""Many query images searched together: per image the result ``SearchService.search_bytes`` gives,
with the work of the whole batch shared.

One at a time, every image of a bulk job pays its own detector run, its own embedder run, its own
FAISS call and its own catalog round trip, and a lone search spreads each model run over every
core, where small convolutions split poorly. A batch here is cut into one slice per worker
thread; each thread reads, decodes, detects and embeds its slice (all the slice's crops in one
embedder call), its model runs on one thread each (the narrow sessions: more than one search is
in flight), so the cores work on different images side by side. Then one FAISS search for every
region vector of the batch, one catalog lookup for every item, and each image's result assembled
by the same code as a single search (``SearchService.assemble``).

``start`` hands the slices to the workers and returns at once, so a caller can start the next
batch before it collects this one (``PendingBatch.results``): the cores keep computing while the
caller searches the index, looks up rows and writes results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import numpy as np

from index import SearchableIndex
from lookalike.errors import ClientError
from lookalike.imaging import decode_image, sha256_hex
from lookalike.types import DecodedImage, Region, SearchResult, Vectors
from service.search import (
    NEIGHBOUR_OVERSAMPLE,
    CatalogModelSet,
    Found,
    SearchRequest,
    SearchService,
    StageTimer,
    needs_detector,
    visual_matches,
    wanted_items,
)
from understanding import SafetyVerdict, ScreenText

Outcome = SearchResult | ClientError
"""A query's result, or the client error that stopped it (an unreadable image, a bad box)."""


@dataclass(frozen=True)
class Query:
    """One query image: ``read`` returns its bytes (raising ``ClientError`` when it cannot)."""

    source: str
    read: Callable[[], bytes]


@dataclass
class _Prepared:
    """A query after the per-image work: decoded, its regions found and embedded."""

    image: DecodedImage
    data: bytes
    timer: StageTimer
    cache_key: tuple[str, str] | None
    """(index version, key) of its result cache entry, when the service has a cache."""
    regions: list[Region] = field(default_factory=list)
    vectors: Vectors | None = None
    screen: ScreenText = field(default_factory=ScreenText)
    verdict: SafetyVerdict | None = None
    """The safety gate's verdict on the upload, when a policy applies."""


Slot = _Prepared | Outcome
"""A query's state inside a batch: prepared, or already answered (cache hit, client error)."""


@dataclass(frozen=True)
class ImageLimits:
    """What a query image may be (the API's limits, ``ApiSettings``)."""

    max_bytes: int
    max_pixels: int
    max_aspect_ratio: float | None = None


class BatchSearcher:
    """Searches batches of query images with one request's parameters; ``workers`` threads."""

    def __init__(self, search: SearchService, limits: ImageLimits, *, workers: int = 1) -> None:
        self.search = search
        self.limits = limits
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="batch-search")

    def __enter__(self) -> BatchSearcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def search_all(self, queries: Sequence[Query], request: SearchRequest) -> list[Outcome]:
        """Each query's outcome, in order."""
        return self.start(queries, request).results()

    def start(self, queries: Sequence[Query], request: SearchRequest) -> PendingBatch:
        """Hand the batch's slices to the workers; the index and catalog work waits for ``results``."""
        slices = [range(w, len(queries), self.workers) for w in range(self.workers)]
        futures = [
            self._pool.submit(self._prepare_slice, [queries[i] for i in part], request)
            for part in slices
            if len(part)
        ]
        return PendingBatch(self, request, len(queries), slices, futures)

    # -- per slice, in a worker thread ---------------------------------------------------------

    def _prepare_slice(self, queries: list[Query], request: SearchRequest) -> list[Slot]:
        s = self.search
        with s.in_flight:  # counted: beside another slice, each model run takes one thread
            slots = [self._decode(query, request) for query in queries]
            todo = [slot for slot in slots if isinstance(slot, _Prepared)]
            if not todo:
                return slots
            models = s.models_for(request.catalog)
            readings = self._detect(todo, request, models)
            crops = [s.crops(p.image, request, p.regions) for p in todo]
            started = time.perf_counter()
            vectors = models.embedder.embed_images([crop for each in crops for crop in each])
            _share(todo, "embed", time.perf_counter() - started)
            at = 0
            for p, reading, each in zip(todo, readings, crops, strict=True):
                p.vectors = vectors[at : at + len(each)]
                at += len(each)
                p.screen = s._finish_reading(reading, p.timer)
            return slots

    def _decode(self, query: Query, request: SearchRequest) -> Slot:
        """As ``SearchService.search_bytes`` begins: hash, the result cache, decode, safety gate."""
        s, limits = self.search, self.limits
        timer = StageTimer()
        try:
            data = query.read()
            with timer.stage("hash"):
                digest = sha256_hex(data)
            rules = s.safety_rules(request)
            key = s.result_cache_key(digest, request, rules)
            if key is not None and s.cache is not None:
                hit = s.cache.get(key[1])
                if hit is not None:
                    return replace(hit, timings_ms={**timer.ms, "cache_hit": 1.0})
            with timer.stage("decode"):
                image = decode_image(
                    data,
                    source=query.source,
                    max_bytes=limits.max_bytes,
                    max_pixels=limits.max_pixels,
                    sha256=digest,
                    draft_long_side=s.draft_long_side,
                    max_aspect_ratio=limits.max_aspect_ratio,
                    max_full_decode_pixels=s.full_decode_pixels,
                )
            verdict = s.screen(image, rules, timer) if rules else None
            request.validate(image)
        except ClientError as exc:
            return exc
        return _Prepared(image, data, timer, key, verdict=verdict)

    def _detect(self, todo: list[_Prepared], request: SearchRequest, models: CatalogModelSet) -> list[Any]:
        """Every image's regions (one detector call for the slice); returns the text being read."""
        s = self.search
        finding = [s._start_reading(p.image, request) for p in todo]
        found: list[list[Region]] = [[] for _ in todo]
        if needs_detector(request):
            started = time.perf_counter()
            found = models.detector.detect([p.image for p in todo])
            _share(todo, "detect", time.perf_counter() - started)
        readings = []
        for p, boxes, text in zip(todo, found, finding, strict=True):
            p.regions = s.regions_of(p.image, request, boxes, models)
            readings.append(s._read_lines(p.image, text, p.regions))
        return readings


@dataclass
class PendingBatch:
    """A batch whose slices the workers are preparing; ``results`` finishes it."""

    searcher: BatchSearcher
    request: SearchRequest
    size: int
    slices: list[range]
    futures: list[Future[list[Slot]]]

    def results(self) -> list[Outcome]:
        """Wait for the slices, then one index search and one catalog lookup for the batch."""
        placed: dict[int, Slot] = {}
        for part, future in zip((p for p in self.slices if len(p)), self.futures, strict=True):
            placed.update(zip(part, future.result(), strict=True))
        slots = [placed[i] for i in range(self.size)]
        answers = self._finish([slot for slot in slots if isinstance(slot, _Prepared)])
        return [answers[id(slot)] if isinstance(slot, _Prepared) else slot for slot in slots]

    def _finish(self, todo: list[_Prepared]) -> dict[int, Outcome]:
        s, request = self.searcher.search, self.request
        if not todo:
            return {}
        version, index = s.indexes.get(request.catalog)
        words = [s._region_words(request, p.screen.lines, p.regions, p.image) for p in todo]
        depths = [s.depth(request, w) for w in words]
        started = time.perf_counter()
        visual: list[list[list[tuple[str, float]]]] = [[] for _ in todo]
        if s.combining.key() is not None:  # fusion / query expansion: their own searches, per image
            for i, p in enumerate(todo):
                if p.regions and p.vectors is not None:
                    visual[i] = s.visual(index, p.vectors, len(p.regions), depths[i], request)
        else:
            self._search_grouped(index, todo, depths, visual)
        _share(todo, "search", time.perf_counter() - started)
        ranked = [s._fuse(request, v, w, p.timer) for p, v, w in zip(todo, visual, words, strict=True)]
        started = time.perf_counter()
        rows = s.items.get_items(request.catalog, wanted_items(ranked))
        _share(todo, "metadata", time.perf_counter() - started)
        models = s.models_for(request.catalog)
        answers: dict[int, Outcome] = {}
        for p, r, w in zip(todo, ranked, words, strict=True):
            found = Found(p.regions, r, p.screen, w)
            result = s.assemble(p.image, request, version, index, models, found, rows, p.timer)
            if p.verdict is not None:
                result.safety = p.verdict.action
                result.safety_findings = list(p.verdict.findings)
            if s.cache is not None and p.cache_key is not None and p.cache_key[0] == version:
                s.cache.put(p.cache_key[1], result)
            answers[id(p)] = result
        return answers

    def _search_grouped(
        self,
        index: SearchableIndex,
        todo: list[_Prepared],
        depths: list[int],
        visual: list[list[list[tuple[str, float]]]],
    ) -> None:
        """One FAISS call per depth for every region vector (one for a batch without words)."""
        request = self.request
        flt = request.index_filter()
        for depth in sorted(set(depths)):
            group = [i for i, d in enumerate(depths) if d == depth and todo[i].regions]
            if not group:
                continue
            vectors = _stack([todo[i].vectors for i in group])
            hits = iter(index.search(vectors, depth * NEIGHBOUR_OVERSAMPLE, filter=flt))
            for i in group:
                visual[i] = [
                    visual_matches(index, next(hits), depth, request.min_score) for _ in todo[i].regions
                ]


def _stack(parts: Sequence[Vectors | None]) -> Vectors:
    return np.concatenate([p for p in parts if p is not None])


def _share(prepared: Sequence[_Prepared], stage: str, seconds: float) -> None:
    """A batched stage's time, split evenly over the images it served."""
    each = seconds * 1000.0 / max(1, len(prepared))
    for p in prepared:
        p.timer.ms[stage] = p.timer.ms.get(stage, 0.0) + each


__all__ = ["BatchSearcher", "ImageLimits", "Outcome", "PendingBatch", "Query"]
