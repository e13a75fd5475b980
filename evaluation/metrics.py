"""Retrieval and detection metrics as pure functions of per-query outcomes.

Ranking rule (the same as served results, ``service.search.merge_neighbours``): a query's
ranking is every item any of its regions matched, at its best score over regions, sorted by
score descending and then by item id ascending. Ties are therefore broken by item id, not
averaged: two catalog items with identical photos score the same, and the one whose id sorts
first wins. A query whose detector found nothing, or whose search returned nothing, has an
empty ranking and counts as a miss; it is never dropped from the denominator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluation.benchmark import TruthBox
from lookalike.types import Box
from service.search import merge_neighbours

KS = (1, 5, 10, 20)
IOU_THRESHOLD = 0.5
IGNORE_COVER = 0.5


@dataclass(frozen=True, slots=True)
class RegionOutcome:
    """One searched region and its matches, best first, as ``(item_id, score)``."""

    box: Box
    matches: tuple[tuple[str, float], ...]

    def ranking(self) -> list[str]:
        return [item for item, _ in merge_neighbours(self.matches, len(self.matches), None)]


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """What search returned for one benchmark query, with the ground truth beside it."""

    query_id: str
    relevant: frozenset[str]
    regions: tuple[RegionOutcome, ...]
    truth_boxes: tuple[TruthBox, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    ignore: tuple[Box, ...] = ()

    def ranking(self) -> list[str]:
        """Merged over regions: best score per item, then item id (see module docstring)."""
        pairs = [m for r in self.regions for m in r.matches]
        return [item for item, _ in merge_neighbours(pairs, len(pairs), None)]

    def first_hit_rank(self) -> int | None:
        """1-based rank of the first relevant item in the merged ranking, or None."""
        for rank, item in enumerate(self.ranking(), 1):
            if item in self.relevant:
                return rank
        return None


# --- retrieval ----------------------------------------------------------------------------


def hit_at_k(ranking: Sequence[str], relevant: frozenset[str], k: int) -> bool:
    return any(item in relevant for item in ranking[:k])


def recall_at_k(outcomes: Sequence[QueryOutcome], k: int) -> float:
    """Share of queries with any relevant item in the top k of the merged ranking."""
    if not outcomes:
        return 0.0
    return sum(hit_at_k(o.ranking(), o.relevant, k) for o in outcomes) / len(outcomes)


def average_precision_at_k(ranking: Sequence[str], relevant: frozenset[str], k: int = 10) -> float:
    """Sum of precision@i at each relevant rank i <= k, over min(|relevant|, k)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, item in enumerate(ranking[:k], 1):
        if item in relevant:
            hits += 1
            total += hits / i
    return total / min(len(relevant), k)


def mean_average_precision(outcomes: Sequence[QueryOutcome], k: int = 10) -> float:
    if not outcomes:
        return 0.0
    return float(np.mean([average_precision_at_k(o.ranking(), o.relevant, k) for o in outcomes]))


def reciprocal_rank(ranking: Sequence[str], relevant: frozenset[str]) -> float:
    for rank, item in enumerate(ranking, 1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def mean_reciprocal_rank(outcomes: Sequence[QueryOutcome]) -> float:
    """MRR over the returned ranking (k results deep; a miss counts 0)."""
    if not outcomes:
        return 0.0
    return float(np.mean([reciprocal_rank(o.ranking(), o.relevant) for o in outcomes]))


def query_categories(outcome: QueryOutcome, categories: Mapping[str, str | None]) -> set[str]:
    """The categories of a query's relevant items (a query can count under several)."""
    return {c for item in outcome.relevant if (c := categories.get(item))}


def recall_by_category(
    outcomes: Sequence[QueryOutcome], categories: Mapping[str, str | None], k: int
) -> dict[str, tuple[float, int]]:
    """Category -> (recall@k, number of queries), by the categories of the relevant items."""
    hits: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for o in outcomes:
        hit = hit_at_k(o.ranking(), o.relevant, k)
        for cat in query_categories(o, categories):
            counts[cat] += 1
            hits[cat] += int(hit)
    return {cat: (hits[cat] / counts[cat], counts[cat]) for cat in sorted(counts)}


def category_recall_at_k(
    outcomes: Sequence[QueryOutcome], categories: Mapping[str, str | None], k: int
) -> float:
    """Coarse recall: a hit if any top-k item shares a category with a relevant item.

    Queries whose relevant items have no category are left out (they cannot be judged).
    """
    judged = hits = 0
    for o in outcomes:
        wanted = query_categories(o, categories)
        if not wanted:
            continue
        judged += 1
        hits += any(categories.get(item) in wanted for item in o.ranking()[:k])
    return hits / judged if judged else 0.0


# --- detection ----------------------------------------------------------------------------


def match_boxes(
    truth: Sequence[Box], detected: Sequence[Box], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: highest IoU pair first (ties: lower truth, then detection index)."""
    pairs = [
        (iou, t, d)
        for t, tb in enumerate(truth)
        for d, db in enumerate(detected)
        if (iou := tb.iou(db)) >= threshold
    ]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    used_t: set[int] = set()
    used_d: set[int] = set()
    out: list[tuple[int, int]] = []
    for _, t, d in pairs:
        if t not in used_t and d not in used_d:
            used_t.add(t)
            used_d.add(d)
            out.append((t, d))
    return sorted(out)


@dataclass(frozen=True, slots=True)
class DetectionScore:
    recall: float
    precision: float
    truth_boxes: int
    detected_boxes: int
    matched: int
    ignored: int = 0


def covered_share(box: Box, region: Box) -> float:
    """The share of ``box``'s area that lies inside ``region`` (0 for an empty box)."""
    w = min(box.x2, region.x2) - max(box.x1, region.x1)
    h = min(box.y2, region.y2) - max(box.y1, region.y1)
    area = box.area
    return max(0.0, w) * max(0.0, h) / area if area > 0 else 0.0


def is_ignored(box: Box, ignore: Sequence[Box], cover: float = IGNORE_COVER) -> bool:
    """True when at least ``cover`` of ``box`` lies inside one ignore region (COCO's crowd rule)."""
    return any(covered_share(box, region) >= cover for region in ignore)


def box_recall_precision(
    outcomes: Sequence[QueryOutcome], threshold: float = IOU_THRESHOLD
) -> DetectionScore:
    """Over queries that have ground-truth boxes; every searched region counts as a detection.

    A detection matching no truth box but lying mostly inside an ignore region (a photo that is
    not in the catalog) is *ignored*: left out of precision's denominator, neither right nor wrong.
    """
    n_truth = n_det = n_match = n_ignored = 0
    for o in outcomes:
        if not o.truth_boxes:
            continue
        truth = [t.box for t in o.truth_boxes]
        detected = [r.box for r in o.regions]
        matched = {d for _, d in match_boxes(truth, detected, threshold)}
        n_truth += len(truth)
        n_det += len(detected)
        n_match += len(matched)
        n_ignored += sum(
            1 for d, box in enumerate(detected) if d not in matched and is_ignored(box, o.ignore)
        )
    judged = n_det - n_ignored
    return DetectionScore(
        recall=n_match / n_truth if n_truth else 0.0,
        precision=n_match / judged if judged else 0.0,
        truth_boxes=n_truth,
        detected_boxes=n_det,
        matched=n_match,
        ignored=n_ignored,
    )


def region_for(truth: Box, regions: Sequence[RegionOutcome]) -> RegionOutcome | None:
    """The region overlapping ``truth`` most (first in detector order on a tie); None if none overlaps."""
    best: RegionOutcome | None = None
    best_iou = 0.0
    for r in regions:
        iou = truth.iou(r.box)
        if iou > best_iou:
            best, best_iou = r, iou
    return best


def region_recall_at_k(outcomes: Sequence[QueryOutcome], k: int) -> float:
    """Per ground-truth box: a hit if its item is in the top k of its best-overlapping region."""
    total = hits = 0
    for o in outcomes:
        for t in o.truth_boxes:
            total += 1
            region = region_for(t.box, o.regions)
            hits += region is not None and t.item_id in region.ranking()[:k]
    return hits / total if total else 0.0


# --- latency ------------------------------------------------------------------------------


def latency_percentiles(outcomes: Sequence[QueryOutcome]) -> dict[str, dict[str, float]]:
    """Stage -> p50/p95/mean milliseconds (linear interpolation), over queries that ran the stage."""
    samples: dict[str, list[float]] = defaultdict(list)
    for o in outcomes:
        for stage, ms in o.timings_ms.items():
            samples[stage].append(ms)
    return {
        stage: {
            "p50": float(np.percentile(v, 50)),
            "p95": float(np.percentile(v, 95)),
            "mean": float(np.mean(v)),
        }
        for stage, v in samples.items()
    }


# --- everything at once -------------------------------------------------------------------


def summarise(
    outcomes: Sequence[QueryOutcome], categories: Mapping[str, str | None], ks: Sequence[int] = KS
) -> dict[str, object]:
    """All metrics as one JSON-ready dict (sections only where the benchmark supports them)."""
    out: dict[str, object] = {
        "queries": len(outcomes),
        "recall": {str(k): recall_at_k(outcomes, k) for k in ks},
        "map@10": mean_average_precision(outcomes, 10),
        "mrr": mean_reciprocal_rank(outcomes),
        "no_results": sum(1 for o in outcomes if not o.ranking()),
        "regions_per_query": float(np.mean([len(o.regions) for o in outcomes])) if outcomes else 0.0,
    }
    if any(categories.values()):
        out["recall_by_category@10"] = {
            cat: {"recall": r, "queries": n}
            for cat, (r, n) in recall_by_category(outcomes, categories, 10).items()
        }
        out["category_recall"] = {str(k): category_recall_at_k(outcomes, categories, k) for k in ks}
    if any(o.truth_boxes for o in outcomes):
        det = box_recall_precision(outcomes)
        out["detection@iou0.5"] = {
            "recall": det.recall,
            "precision": det.precision,
            "truth_boxes": det.truth_boxes,
            "detected_boxes": det.detected_boxes,
            "matched": det.matched,
            "ignored_detections": det.ignored,
        }
        out["region_recall"] = {str(k): region_recall_at_k(outcomes, k) for k in ks}
    out["latency_ms"] = latency_percentiles(outcomes)
    return out


__all__ = [
    "KS",
    "DetectionScore",
    "QueryOutcome",
    "RegionOutcome",
    "average_precision_at_k",
    "box_recall_precision",
    "category_recall_at_k",
    "covered_share",
    "hit_at_k",
    "is_ignored",
    "latency_percentiles",
    "match_boxes",
    "mean_average_precision",
    "mean_reciprocal_rank",
    "recall_at_k",
    "recall_by_category",
    "reciprocal_rank",
    "region_for",
    "region_recall_at_k",
    "summarise",
]
