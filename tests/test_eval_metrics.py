"""Metrics against hand-computed cases: ties, several relevant items, empty results, boxes."""

from __future__ import annotations

import pytest

from evaluation.benchmark import TruthBox
from evaluation.metrics import (
    QueryOutcome,
    RegionOutcome,
    average_precision_at_k,
    box_recall_precision,
    category_recall_at_k,
    covered_share,
    is_ignored,
    latency_percentiles,
    match_boxes,
    mean_average_precision,
    mean_reciprocal_rank,
    recall_at_k,
    recall_by_category,
    region_recall_at_k,
    summarise,
)
from lookalike.types import Box

FULL = Box(0, 0, 100, 100)


def q(
    relevant: set[str], *regions: RegionOutcome, boxes: tuple[TruthBox, ...] = (), qid: str = "q"
) -> QueryOutcome:
    return QueryOutcome(qid, frozenset(relevant), tuple(regions), boxes)


def region(box: Box, *matches: tuple[str, float]) -> RegionOutcome:
    return RegionOutcome(box, tuple(matches))


def test_merged_ranking_takes_best_score_per_item_across_regions() -> None:
    o = q({"c"}, region(FULL, ("a", 0.9), ("c", 0.5)), region(Box(0, 0, 50, 50), ("c", 0.95), ("b", 0.6)))
    assert o.ranking() == ["c", "a", "b"]
    assert o.first_hit_rank() == 1


def test_ties_are_broken_by_item_id_like_served_results() -> None:
    # "b" is relevant but ties with "a" at 0.8: "a" sorts first, so recall@1 misses.
    o = q({"b"}, region(FULL, ("b", 0.8), ("a", 0.8), ("c", 0.7)))
    assert o.ranking() == ["a", "b", "c"]
    assert recall_at_k([o], 1) == 0.0
    assert recall_at_k([o], 5) == 1.0
    assert mean_reciprocal_rank([o]) == 0.5


def test_duplicate_catalog_images_tie_and_only_the_first_id_can_be_top1() -> None:
    # Two catalog items with the same photo get exactly the same score.
    dup_first = q({"item-1"}, region(FULL, ("item-2", 0.91), ("item-1", 0.91)))
    dup_second = q({"item-2"}, region(FULL, ("item-2", 0.91), ("item-1", 0.91)))
    assert recall_at_k([dup_first], 1) == 1.0
    assert recall_at_k([dup_second], 1) == 0.0
    assert recall_at_k([dup_first, dup_second], 1) == 0.5
    assert recall_at_k([dup_first, dup_second], 5) == 1.0


def test_several_relevant_items_recall_map_and_mrr() -> None:
    # ranking: x r1 y r2 -> hits at ranks 2 and 4.
    o = q({"r1", "r2", "r3"}, region(FULL, ("x", 0.9), ("r1", 0.8), ("y", 0.7), ("r2", 0.6)))
    assert recall_at_k([o], 1) == 0.0
    assert recall_at_k([o], 5) == 1.0
    # AP@10 = (1/2 + 2/4) / min(3, 10) = 1/3
    assert average_precision_at_k(o.ranking(), o.relevant, 10) == pytest.approx(1 / 3)
    # AP@2 = (1/2) / min(3, 2) = 1/4
    assert average_precision_at_k(o.ranking(), o.relevant, 2) == pytest.approx(0.25)
    assert mean_reciprocal_rank([o]) == pytest.approx(0.5)


def test_query_without_region_or_results_is_a_counted_miss() -> None:
    hit = q({"a"}, region(FULL, ("a", 0.9)), qid="hit")
    no_region = q({"a"}, qid="no-region")
    no_results = q({"a"}, region(FULL), qid="no-results")
    outcomes = [hit, no_region, no_results]
    assert no_region.ranking() == [] and no_results.ranking() == []
    assert recall_at_k(outcomes, 20) == pytest.approx(1 / 3)
    assert mean_average_precision(outcomes) == pytest.approx(1 / 3)
    assert mean_reciprocal_rank(outcomes) == pytest.approx(1 / 3)
    assert summarise(outcomes, {"a": None})["no_results"] == 2
    assert recall_at_k([], 1) == 0.0


def test_recall_by_category_and_coarse_category_recall() -> None:
    cats = {"apple-1": "apple", "apple-2": "apple", "milk-1": "milk", "milk-2": "milk"}
    a = q({"apple-1"}, region(FULL, ("apple-2", 0.9), ("apple-1", 0.8)))  # fine miss@1, coarse hit@1
    m = q({"milk-1"}, region(FULL, ("milk-1", 0.9)))  # hit
    m2 = q({"milk-2"}, region(FULL, ("apple-1", 0.9), ("milk-1", 0.5)))  # fine miss, coarse hit@5 only
    by_cat = recall_by_category([a, m, m2], cats, 1)
    assert by_cat == {"apple": (0.0, 1), "milk": (0.5, 2)}
    assert category_recall_at_k([a, m, m2], cats, 1) == pytest.approx(2 / 3)
    assert category_recall_at_k([a, m, m2], cats, 5) == 1.0


def test_greedy_box_matching_is_one_to_one_best_iou_first() -> None:
    truth = [Box(0, 0, 10, 10), Box(3, 0, 13, 10)]
    # det 0 overlaps truth 0 (IoU 0.82) and truth 1 (IoU 0.67); det 1 is truth 1 exactly (IoU 1).
    detected = [Box(1, 0, 11, 10), Box(3, 0, 13, 10), Box(50, 50, 60, 60)]
    assert match_boxes(truth, detected) == [(0, 0), (1, 1)]
    # One detection overlapping both (IoU 0.67 and 0.82) matches only the better one.
    assert match_boxes(truth, [Box(2, 0, 12, 10)]) == [(1, 0)]
    assert match_boxes(truth, [Box(0, 0, 30, 30)]) == []  # IoU below 0.5


def test_box_recall_precision_over_queries_with_boxes() -> None:
    t = (TruthBox(Box(0, 0, 10, 10), "a"), TruthBox(Box(20, 20, 30, 30), "b"))
    o1 = q(
        {"a", "b"},
        region(Box(0, 0, 10, 10)),
        region(Box(50, 50, 60, 60)),
        region(Box(60, 60, 70, 70)),
        boxes=t,
    )
    o2 = q({"a"}, region(Box(0, 0, 99, 99)))  # no truth boxes: not judged
    score = box_recall_precision([o1, o2])
    assert (score.truth_boxes, score.detected_boxes, score.matched) == (2, 3, 1)
    assert score.recall == 0.5 and score.precision == pytest.approx(1 / 3)


def test_detections_mostly_inside_ignore_regions_are_neither_true_nor_false_positives() -> None:
    truth = (TruthBox(Box(0, 0, 10, 10), "a"),)
    ignore = (Box(50, 0, 100, 100),)
    regions = (
        region(Box(0, 0, 10, 10)),  # true positive
        region(Box(60, 10, 80, 30)),  # wholly inside the ignore region: ignored
        region(Box(40, 0, 60, 10)),  # exactly half inside: ignored (>= 50%)
        region(Box(30, 0, 59, 10)),  # 9/29 inside: a false positive
        region(Box(0, 50, 10, 60)),  # elsewhere: a false positive
        region(Box(49, 0, 100, 100)),  # near-duplicate of the ignore region itself: ignored
    )
    o = QueryOutcome("q", frozenset({"a"}), regions, truth, {}, ignore)
    score = box_recall_precision([o])
    assert (score.truth_boxes, score.detected_boxes, score.matched, score.ignored) == (1, 6, 1, 3)
    assert score.recall == 1.0 and score.precision == pytest.approx(1 / 3)  # 1 of 6 - 3 judged
    without = box_recall_precision([q({"a"}, *regions, boxes=truth)])
    assert without.ignored == 0 and without.precision == pytest.approx(1 / 6)


def test_a_true_positive_inside_an_ignore_region_still_counts() -> None:
    truth = (TruthBox(Box(0, 0, 10, 10), "a"),)
    o = QueryOutcome("q", frozenset({"a"}), (region(Box(0, 0, 10, 10)),), truth, {}, (Box(0, 0, 50, 50),))
    score = box_recall_precision([o])
    assert (score.matched, score.ignored, score.precision, score.recall) == (1, 0, 1.0, 1.0)


def test_all_detections_ignored_gives_zero_precision_not_an_error() -> None:
    truth = (TruthBox(Box(0, 0, 10, 10), "a"),)
    o = QueryOutcome("q", frozenset({"a"}), (region(Box(60, 60, 70, 70)),), truth, {}, (Box(50, 50, 99, 99),))
    score = box_recall_precision([o])
    assert (score.ignored, score.precision, score.recall) == (1, 0.0, 0.0)
    assert summarise([o], {})["detection@iou0.5"]["ignored_detections"] == 1  # type: ignore[index]


def test_covered_share_is_the_part_of_the_detection_inside_the_region() -> None:
    assert covered_share(Box(0, 0, 10, 10), Box(5, 0, 20, 20)) == 0.5
    assert covered_share(Box(0, 0, 10, 10), Box(20, 20, 30, 30)) == 0.0
    assert covered_share(Box(5, 5, 5, 9), Box(0, 0, 10, 10)) == 0.0  # empty detection
    assert is_ignored(Box(0, 0, 10, 10), [Box(20, 0, 30, 10), Box(4, 0, 30, 10)])  # 60% inside the second
    assert not is_ignored(Box(0, 0, 10, 10), [Box(0, 0, 4, 10), Box(6, 0, 10, 10)])  # per region, not union


def test_region_recall_uses_best_overlapping_region_and_misses_unfound_boxes() -> None:
    boxes = (
        TruthBox(Box(0, 0, 10, 10), "a"),  # best region: r_a (hit@1)
        TruthBox(Box(20, 0, 30, 10), "b"),  # best region: r_b, where "b" is 2nd
        TruthBox(Box(80, 80, 90, 90), "c"),  # no region overlaps it: a miss, even though r_a found "c"
    )
    r_a = region(Box(0, 0, 12, 12), ("a", 0.9), ("c", 0.8))
    r_b = region(Box(18, 0, 30, 10), ("x", 0.9), ("b", 0.7))
    wide = region(Box(0, 0, 30, 30), ("b", 0.99))  # overlaps the b box less than r_b
    o = q({"a", "b", "c"}, r_a, r_b, wide, boxes=boxes)
    assert region_recall_at_k([o], 1) == pytest.approx(1 / 3)
    assert region_recall_at_k([o], 5) == pytest.approx(2 / 3)
    # The merged ranking sees "b" at 0.99 first, which the region-level metric must not.
    assert recall_at_k([o], 1) == 1.0


def test_latency_percentiles_per_stage() -> None:
    outcomes = [
        QueryOutcome(str(i), frozenset({"a"}), (), (), {"embed": float(ms), "search": 1.0})
        for i, ms in enumerate([10, 20, 30, 40, 50])
    ]
    lat = latency_percentiles(outcomes)
    assert lat["embed"]["p50"] == 30.0
    assert lat["embed"]["p95"] == pytest.approx(48.0)
    assert lat["search"] == {"p50": 1.0, "p95": 1.0, "mean": 1.0}


def test_summary_has_sections_only_where_the_benchmark_supports_them() -> None:
    o = q({"a"}, region(FULL, ("a", 0.9)))
    plain = summarise([o], {"a": None})
    assert "category_recall" not in plain and "detection@iou0.5" not in plain
    assert plain["recall"] == {"1": 1.0, "5": 1.0, "10": 1.0, "20": 1.0}
    boxed = q({"a"}, region(FULL, ("a", 0.9)), boxes=(TruthBox(FULL, "a", "shirt"),))
    full = summarise([boxed], {"a": "shirt"})
    assert full["category_recall"] == {"1": 1.0, "5": 1.0, "10": 1.0, "20": 1.0}
    assert full["region_recall"] == {"1": 1.0, "5": 1.0, "10": 1.0, "20": 1.0}
