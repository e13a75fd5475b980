"""The one search pipeline: image -> regions -> vectors -> neighbours -> catalog rows.

The API, ``lookalike eval`` and the benchmarks all call ``SearchService.search``, so what
is measured is what is served.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Literal, Protocol, get_args

from PIL import Image

from detector import Detector, select_regions
from embedder import Embedder
from index import SearchableIndex, SearchFilter
from lookalike.batching import InFlight
from lookalike.errors import InvalidParameterError, SearchBudgetError, UnsafeImageError
from lookalike.imaging import decode_image, sha256_hex
from lookalike.settings import (
    DetectorSettings,
    ExplainSettings,
    SafetyRule,
    SafetySettings,
    SearchSettings,
    UnderstandingSettings,
)
from lookalike.types import (
    Box,
    CatalogItem,
    DecodedImage,
    Explanation,
    Match,
    Neighbour,
    Region,
    RegionResult,
    SearchResult,
    TextLine,
    Vectors,
)
from service.result_cache import ResultCache, cache_key
from service.text_fusion import TEXT, fuse, telling_words
from service.whole_image import Combining, expand_queries, fuse_whole_image
from understanding import (
    OCR_MODES,
    Explainer,
    FoundText,
    OcrMode,
    QueryWords,
    SafetyGate,
    SafetyVerdict,
    ScreenReader,
    ScreenText,
    policy_acts,
    query_words,
    tie_lines,
)

MAX_K = 100
RegionMode = Literal["none", "auto", "all"]
"""What a search embeds: the whole image, the detector's regions (the whole image when it finds
none), or both."""
REGION_MODES: tuple[str, ...] = get_args(RegionMode)
# Several regions of one catalog photo can match one query region; fetch extra neighbours
# so k distinct items survive merging.
NEIGHBOUR_OVERSAMPLE = 4
MAX_QUERY_CHARS = 500
TEXT_ONLY_OVERSAMPLE = 20
"""A text-only search fetches this many rows per wanted match, so filters still leave k."""


class ItemLookup(Protocol):
    """What search needs from the catalog store: item rows by id, in one round trip."""

    def get_items(self, catalog: str, item_ids: Sequence[str]) -> dict[str, CatalogItem]: ...


class TextLookup(Protocol):
    """What hybrid ranking needs from the catalog store: its text search (``catalog.text_search``)."""

    def text_search(
        self, catalog: str, words: Sequence[str], limit: int, among: Sequence[str] | None = None
    ) -> list[tuple[str, float]]: ...

    def word_counts(self, catalog: str, words: Sequence[str]) -> tuple[dict[str, int], int]: ...


class CatalogModelSet(Protocol):
    """The models one catalog searches with (``service.models.CatalogModels``)."""

    @property
    def detector(self) -> Detector: ...
    @property
    def embedder(self) -> Embedder: ...
    @property
    def detector_settings(self) -> DetectorSettings: ...


class ModelProvider(Protocol):
    """Per-catalog models (``service.models.ModelRouter``); None: the catalog uses the service's."""

    def for_catalog(self, catalog: str) -> CatalogModelSet | None: ...


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
    q: str | None = None
    """Words to search titles, brands, categories and attributes for: alone, or re-ranking an
    image's matches."""
    ocr: OcrMode | None = None
    """Read the image's text: 'off', 'auto', 'always'; None: the server's setting."""
    safety: tuple[SafetyRule, ...] | None = None
    """The upload safety policy (the caller's tenant's); None: the server's ``safety.rules``."""
    explain: bool = False
    """Explain the best matches of each region with an occlusion heatmap (``explain`` settings)."""

    def words(self) -> QueryWords:
        return query_words(self.q) if self.q else QueryWords(())

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
        text = () if self.q is None and self.ocr is None else (self.q, self.ocr)
        explain = ("explain",) if self.explain else ()
        return (self.catalog, self.k, box, cats, self.min_score, self.regions, *extra, *text, *explain)

    def validate_text(self) -> None:
        if self.q is not None and len(self.q) > MAX_QUERY_CHARS:
            raise InvalidParameterError(f"q is {len(self.q)} characters long; at most {MAX_QUERY_CHARS}")
        if self.ocr is not None and self.ocr not in OCR_MODES:
            raise InvalidParameterError(f"ocr must be one of {', '.join(OCR_MODES)}, got {self.ocr!r}")

    def validate(self, image: DecodedImage) -> None:
        self.validate_text()
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
    """Collects wall-clock milliseconds per pipeline stage; with ``budget_s``, a stage that ends past
    the budget stops the search there (``SearchBudgetError``) instead of running the next one."""

    def __init__(self, budget_s: float | None = None) -> None:
        self.ms: dict[str, float] = {}
        self.started = time.perf_counter()
        self.budget_s = budget_s

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000.0
        spent = time.perf_counter() - self.started
        if self.budget_s is not None and spent > self.budget_s:
            raise SearchBudgetError(
                f"the search spent {spent:.1f} s (over its budget of {self.budget_s:g} s) at the {name} "
                "stage; retry later or send a smaller image"
            )


@dataclass
class Found:
    """What a search found in one image, before its catalog rows: regions, ranked matches per
    region (item, score, signals), the text read and each region's words."""

    regions: list[Region]
    ranked: list[list[tuple[str, float, tuple[str, ...]]]]
    screen: ScreenText
    region_words: list[tuple[str, ...]]


def needs_detector(request: SearchRequest) -> bool:
    """Whether a search runs the detector: not for a tapped box, nor for the whole image only."""
    return request.box is None and request.regions != "none"


def visual_matches(
    index: SearchableIndex, row: Sequence[Neighbour], depth: int, min_score: float | None
) -> list[tuple[str, float]]:
    """One region's neighbours as (item, best score), best first, at most ``depth``."""
    items = index.items_of([n.vector_id for n in row])
    return merge_neighbours(list(zip(items, (n.score for n in row), strict=True)), depth, min_score)


def wanted_items(ranked: Iterable[list[list[tuple[str, float, tuple[str, ...]]]]]) -> list[str]:
    """The catalog rows some searches' ranked matches need, each once, sorted."""
    return sorted({item_id for regions in ranked for row in regions for item_id, _, _ in row})


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
        full_decode_pixels: int | None = None,
        in_flight: InFlight | None = None,
        reader: ScreenReader | None = None,
        texts: TextLookup | None = None,
        understanding: UnderstandingSettings | None = None,
        models: ModelProvider | None = None,
        gate: SafetyGate | None = None,
        safety: SafetySettings | None = None,
        explainer: Explainer | None = None,
        explain: ExplainSettings | None = None,
        search: SearchSettings | None = None,
    ) -> None:
        self.combining = Combining.of(search)
        self.models = models
        self.gate = gate
        self.safety = safety or SafetySettings(rules=[])
        self.explainer = explainer
        self.explain_settings = explain or ExplainSettings()
        self.draft_long_side = draft_long_side
        self.full_decode_pixels = full_decode_pixels
        self.in_flight = in_flight or InFlight()
        self.detector = detector
        self.embedder = embedder
        self.indexes = indexes
        self.items = items
        self.detector_settings = detector_settings
        self.cache = cache
        self.reader = reader
        self.texts = texts
        self.understanding = understanding or UnderstandingSettings()
        self._ocr_pool: ThreadPoolExecutor | None = None

    def understanding_key(self) -> object:
        """What of the understanding settings shapes a result: part of the result cache's key, so a
        server with OCR or fusion off never hands out an answer computed with them on (or back)."""
        if self.reader is None and self.texts is None:
            return None
        return {
            "reader": self.reader is not None,
            "texts": self.texts is not None,
            **self.understanding.model_dump(),
        }

    def safety_rules(self, request: SearchRequest) -> tuple[SafetyRule, ...]:
        """The policy an upload is screened under: the request's (its tenant's), else the server's;
        empty when there is no gate or the policy cannot act (then the model never runs)."""
        rules = request.safety if request.safety is not None else tuple(self.safety.rules)
        return rules if self.gate is not None and policy_acts(rules) else ()

    def screen(self, image: DecodedImage, rules: tuple[SafetyRule, ...], timer: StageTimer) -> SafetyVerdict:
        """The safety gate on an upload: a refusal is a 422 naming what the model found."""
        assert self.gate is not None
        with timer.stage("safety"):
            verdict = self.gate.screen(image.pixels, rules)
        if verdict.action == "refuse":
            found = ", ".join(f"{f.label} ({f.score:.2f})" for f in verdict.findings if f.action == "refuse")
            raise UnsafeImageError(
                f"the image was refused by this server's safety policy: {found}",
                [{"label": f.label, "score": f.score, "action": f.action} for f in verdict.findings],
            )
        return verdict

    def models_for(self, catalog: str) -> CatalogModelSet:
        """The catalog's own models when it names any (``catalog_models``), else the service's."""
        chosen = self.models.for_catalog(catalog) if self.models is not None else None
        return chosen if chosen is not None else self

    def search_bytes(
        self,
        data: bytes,
        request: SearchRequest,
        *,
        max_bytes: int,
        max_pixels: int,
        source: str = "upload",
        max_aspect_ratio: float | None = None,
        budget_s: float | None = None,
    ) -> SearchResult:
        """Search raw upload bytes: answered from the result cache when the same bytes were
        searched with the same parameters against the same index version and models. Past
        ``budget_s`` of compute the search stops at the next stage (``SearchBudgetError``)."""
        timer = StageTimer(budget_s)
        with timer.stage("hash"):
            digest = sha256_hex(data)
        rules = self.safety_rules(request)
        cached = self.result_cache_key(digest, request, rules)
        if self.cache is not None and cached is not None:
            version, key = cached
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
                max_aspect_ratio=max_aspect_ratio,
                max_full_decode_pixels=self.full_decode_pixels,
            )
        verdict = self.screen(image, rules, timer) if rules else None
        result = self.search(image, request, timer)
        if verdict is not None:
            result.safety = verdict.action
            result.safety_findings = list(verdict.findings)
        if self.cache is not None and cached is not None and result.index_version == version:
            self.cache.put(key, result)
        return result

    def result_cache_key(
        self, digest: str, request: SearchRequest, rules: tuple[SafetyRule, ...]
    ) -> tuple[str, str] | None:
        """(index version, key) of the result cache entry for these bytes and this request; None
        without a cache."""
        if self.cache is None:
            return None
        version, _ = self.indexes.get(request.catalog)
        models = self.models_for(request.catalog)
        # the policy is part of the key: an answer given under a lax policy is never served
        # under a strict one (a cached answer also means the upload passed this very policy)
        policy = None
        if rules and self.gate is not None:
            policy = {"rules": [r.model_dump() for r in rules], "model": self.gate.detector.spec}
        explain = self.explain_key() if request.explain else None
        combining = self.combining.key()
        key = cache_key(
            digest,
            version,
            request.cache_parts(),
            models.detector.spec,
            models.embedder.spec,
            self.understanding_key(),
            *([policy] if policy else []),
            *([explain] if explain else []),
            *([combining] if combining else []),
        )
        return version, key

    def detect(
        self,
        image: DecodedImage,
        request: SearchRequest,
        timer: StageTimer,
        models: CatalogModelSet | None = None,
    ) -> list[Region]:
        models = models or self
        if not needs_detector(request):
            return self.regions_of(image, request, [], models)
        with timer.stage("detect"):
            found = models.detector.detect([image])[0]
        return self.regions_of(image, request, found, models)

    @staticmethod
    def regions_of(
        image: DecodedImage, request: SearchRequest, found: list[Region], models: CatalogModelSet
    ) -> list[Region]:
        """The regions a search embeds, given what the detector ``found`` (when it ran)."""
        full = Box.full(image.width, image.height)
        if request.box is not None:
            return [Region(request.box.scaled(image.scale), None, 1.0)]
        if request.regions == "none":
            return [Region(full, None, 1.0)]
        regions = select_regions(found, image, models.detector_settings)
        if request.regions == "all" and all(r.box != full for r in regions):
            regions.append(Region(full, None, 0.0))
        return regions

    def search(
        self, image: DecodedImage, request: SearchRequest, timer: StageTimer | None = None
    ) -> SearchResult:
        """OCR, when on, reads the searched pixels (a big JPEG's reduced-scale decode too: the text
        detector sees them at ``detect_long_side`` anyway, and a line's crop is scaled to 48 px)."""
        with self.in_flight:  # the batchers read this to decide whether waiting can pay
            return self._search(image, request, timer)

    def _search(self, image: DecodedImage, request: SearchRequest, timer: StageTimer | None) -> SearchResult:
        request.validate(image)
        timer = timer or StageTimer()
        version, index = self.indexes.get(request.catalog)
        found = self._start_reading(image, request)
        models = self.models_for(request.catalog)
        regions = self.detect(image, request, timer, models)
        reading = self._read_lines(image, found, regions)
        with timer.stage("embed"):
            vectors = models.embedder.embed_images(self.crops(image, request, regions))
        screen = self._finish_reading(reading, timer)
        region_words = self._region_words(request, screen.lines, regions, image)
        depth = self.depth(request, region_words)
        with timer.stage("search"):
            visual = self.visual(index, vectors, len(regions), depth, request)
        ranked = self._fuse(request, visual, region_words, timer)
        with timer.stage("metadata"):
            rows = self.items.get_items(request.catalog, wanted_items([ranked]))
        seen = Found(regions, ranked, screen, region_words)
        return self.assemble(image, request, version, index, models, seen, rows, timer)

    def crops(self, image: DecodedImage, request: SearchRequest, regions: list[Region]) -> list[Image.Image]:
        """What the embedder embeds for a search: each region's crop, then the whole image when
        whole-image fusion is on (one batch: ``Combining.whole_box``)."""
        whole = self.combining.whole_box(image, request.box is not None, regions)
        return [image.crop(r.box) for r in regions] + ([image.crop(whole)] if whole is not None else [])

    def visual(
        self, index: SearchableIndex, vectors: Vectors, regions: int, depth: int, request: SearchRequest
    ) -> list[list[tuple[str, float]]]:
        """Each region's (item, score), best first, at most ``depth``: from its own vector (the first
        ``regions`` rows), query-expanded and fused with the whole image's (a last row) when on."""
        c, flt = self.combining, request.index_filter()
        own = vectors[:regions]
        if c.expansion > 0:
            own = expand_queries(index, own, c.expansion, c.alpha, flt)
        hits = index.search(own, depth * NEIGHBOUR_OVERSAMPLE, filter=flt)
        if len(vectors) == regions:
            return [visual_matches(index, row, depth, request.min_score) for row in hits]
        reach = max(c.depth, depth * NEIGHBOUR_OVERSAMPLE)
        whole = visual_matches(index, index.search(vectors[regions:], reach, filter=flt)[0], reach, None)
        rows = [visual_matches(index, row, len(row), None) for row in hits]
        return [
            [(item, score) for item, score in row if request.min_score is None or score >= request.min_score][
                :depth
            ]
            for row in fuse_whole_image(rows, whole, c.weight)
        ]

    def depth(self, request: SearchRequest, region_words: list[tuple[str, ...]]) -> int:
        """Matches per region fetched before fusion: deeper when words will re-rank them."""
        return max(request.k, self.understanding.rerank_depth) if any(region_words) else request.k

    def assemble(
        self,
        image: DecodedImage,
        request: SearchRequest,
        version: str,
        index: SearchableIndex,
        models: CatalogModelSet,
        found: Found,
        rows: dict[str, CatalogItem],
        timer: StageTimer,
    ) -> SearchResult:
        """One image's result: its regions in original pixels, each with its catalog rows."""
        regions, screen = found.regions, found.screen
        to_original = 1.0 / image.scale
        tied, _ = tie_lines(screen.lines, [r.box for r in regions])
        results = [
            RegionResult(
                Region(region.box.scaled(to_original), region.category, region.score),
                [Match(rows[item_id], score, signals) for item_id, score, signals in row if item_id in rows],
                [line.text for line in lines],
            )
            for region, row, lines in zip(regions, found.ranked, tied, strict=True)
        ]
        if request.explain:
            with timer.stage("explain"):
                self._explain(
                    image, regions, results, index, f"{models.embedder.spec}@{version}", models.embedder
                )
        return SearchResult(
            catalog=request.catalog,
            index_version=version,
            image_width=image.original_width,
            image_height=image.original_height,
            regions=results,
            timings_ms=timer.ms,
            text=[line.text for line in screen.lines],
            query_text=" ".join(dict.fromkeys(w for ws in found.region_words for w in ws)) or None,
        )

    # -- why this match: occlusion heatmaps of the query crops ---------------------------------

    def explain_key(self) -> object:
        return self.explain_settings.model_dump(exclude={"cache_entries"})

    def _explain(
        self,
        image: DecodedImage,
        regions: list[Region],
        results: list[RegionResult],
        index: SearchableIndex,
        vectors_of: str,
        embedder: Embedder,
    ) -> None:
        """Each region's best ``explain.max_matches`` matches get a heatmap of the region's crop."""
        if self.explainer is None:
            raise InvalidParameterError("this server does not explain matches")
        for region, result in zip(regions, results, strict=True):
            crop = image.crop(region.box)
            for match in result.matches[: self.explain_settings.max_matches]:
                match.explanation = self.explain_match(
                    image.sha256, region.box, crop, match.item.item_id, index, vectors_of, embedder
                )

    def explain_match(
        self,
        image_sha256: str,
        box: Box,
        crop: Image.Image,
        item_id: str,
        index: SearchableIndex,
        vectors_of: str,
        embedder: Embedder,
    ) -> Explanation | None:
        """The heatmap of one crop against one item's vectors, kept by image hash, box, item and
        ``vectors_of`` (embedder and index version); None when the item has no vector in this
        index version."""
        assert self.explainer is not None
        key = self.explainer.key(image_sha256, box.as_list(), item_id, vectors_of)
        hit = self.explainer.cached(key)
        if hit is not None:
            return hit
        targets = index.item_vectors(item_id)
        if len(targets) == 0:
            return None
        return self.explainer.explain(crop, targets, embedder.embed_images, key)

    # -- text: reading the screenshot, and the words each region searches for ------------------

    def _ocr_mode(self, request: SearchRequest) -> OcrMode:
        if self.reader is None:
            return "off"
        return request.ocr or self.understanding.ocr

    def _start_reading(self, image: DecodedImage, request: SearchRequest) -> Future[FoundText] | FoundText:
        """Start finding the text lines (in a thread of their own, beside detection, when
        ``understanding.concurrent``), or find them now."""
        mode = self._ocr_mode(request)
        if mode == "off" or self.reader is None:
            return FoundText()
        if self.understanding.concurrent:
            return self._ocr_threads().submit(self.reader.find, image, mode)
        return self.reader.find(image, mode)

    def _read_lines(
        self, image: DecodedImage, found: Future[FoundText] | FoundText, regions: list[Region]
    ) -> Future[ScreenText] | ScreenText:
        """Recognise the lines the product ``regions`` want (beside the embedder when concurrent)."""
        full = Box.full(image.width, image.height)
        boxes = [r.box for r in regions if r.box != full]
        if self.reader is None or (not isinstance(found, Future) and found.lines is None):
            return ScreenText(timings_ms=found.timings_ms if isinstance(found, FoundText) else {})
        reader = self.reader
        if isinstance(found, Future):
            # FIFO pool: this task starts after the find it waits for has started
            done = found
            return self._ocr_threads().submit(lambda: reader.recognise(image, done.result(), boxes))
        return reader.recognise(image, found, boxes)

    def _ocr_threads(self) -> ThreadPoolExecutor:
        if self._ocr_pool is None:
            self._ocr_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ocr")
        return self._ocr_pool

    @staticmethod
    def _finish_reading(reading: Future[ScreenText] | ScreenText, timer: StageTimer) -> ScreenText:
        if isinstance(reading, Future):
            with timer.stage("ocr_wait"):
                reading = reading.result()
        for name, ms in reading.timings_ms.items():
            timer.ms[name] = timer.ms.get(name, 0.0) + ms
        return reading

    def _region_words(
        self, request: SearchRequest, lines: list[TextLine], regions: list[Region], image: DecodedImage
    ) -> list[tuple[str, ...]]:
        """The words each region's matches are re-ranked by: ``q``, then the lines tied to the region
        (the whole image's region: every line; a lone region with none tied: the screen's lines)."""
        asked = request.words().words
        if not self.understanding.text_fusion or self.texts is None:
            return [() for _ in regions]
        tied, loose = tie_lines(lines, [r.box for r in regions])
        full = Box.full(image.width, image.height)
        out = []
        for region, own in zip(regions, tied, strict=True):
            if region.box == full:
                own = lines
            elif not own and len(regions) == 1:
                own = loose
            out.append(tuple(dict.fromkeys(asked + query_words(*(t.text for t in own)).words)))
        return out

    def _fuse(
        self,
        request: SearchRequest,
        visual: list[list[tuple[str, float]]],
        region_words: list[tuple[str, ...]],
        timer: StageTimer,
    ) -> list[list[tuple[str, float, tuple[str, ...]]]]:
        u = self.understanding
        if self.texts is None or not any(region_words):
            return [[(item, score, ("visual",)) for item, score in row[: request.k]] for row in visual]
        with timer.stage("text"):
            every = sorted({w for ws in region_words for w in ws})
            counts, total = self.texts.word_counts(request.catalog, every)
            asked = set(request.words().words)
            out = []
            for row, words in zip(visual, region_words, strict=True):
                # words the shopper typed always count; words read must tell items apart
                keep = [w for w in words if w in asked] + telling_words(
                    [w for w in words if w not in asked], counts, total, u.max_word_share
                )
                text = (
                    self.texts.text_search(request.catalog, keep, len(row), among=[i for i, _ in row])
                    if keep and row
                    else []
                )
                out.append(fuse(row, text, k=request.k, text_weight=u.text_weight))
            return out

    def search_text(self, request: SearchRequest) -> SearchResult:
        """``q`` alone: the catalog's text search, with the request's filters; one region, no box."""
        request.validate_text()
        if not 1 <= request.k <= MAX_K:
            raise InvalidParameterError(f"k must be between 1 and {MAX_K}, got {request.k}")
        words = request.words().words
        if not words:
            raise InvalidParameterError(
                f"q {request.q!r} holds no word to search for (give an image, or words)"
            )
        if self.texts is None:
            raise InvalidParameterError("this server has no text search")
        timer = StageTimer()
        version, _ = self.indexes.get(request.catalog)
        flt = request.index_filter()
        with timer.stage("text"):
            found = self.texts.text_search(request.catalog, words, request.k * TEXT_ONLY_OVERSAMPLE)
        with timer.stage("metadata"):
            rows = self.items.get_items(request.catalog, [item for item, _ in found])
        matches = [
            Match(rows[item], score, (TEXT,))
            for item, score in found
            if item in rows and (flt.empty or item_passes(rows[item], flt))
        ][: request.k]
        return SearchResult(
            catalog=request.catalog,
            index_version=version,
            image_width=0,
            image_height=0,
            regions=[RegionResult(Region(Box(0.0, 0.0, 0.0, 0.0), None, 0.0), matches)],
            timings_ms=timer.ms,
            query_text=" ".join(words),
        )


def item_passes(item: CatalogItem, flt: SearchFilter) -> bool:
    """The index's filter, applied to a catalog row (text-only search has no index payload)."""
    return flt.accepts(item.category, item.brand, item.price, item.attributes)


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
    "Found",
    "IndexProvider",
    "ItemLookup",
    "ModelProvider",
    "SearchRequest",
    "SearchService",
    "StageTimer",
    "TextLookup",
    "merged_ranking",
    "needs_detector",
    "visual_matches",
    "wanted_items",
]
