"""Two `lookalike eval` runs of the same queries, compared query by query.

    python -m bench.paired_recall var/eval/fp32-grocery var/eval/bf16-grocery --out result.json

A recall difference of a few thousandths is a handful of queries: this says how many. For
recall@1/10/20 it counts the queries the second run lost (hit -> miss) and gained (miss -> hit),
with the two-sided exact sign test over those flips (McNemar's exact test: the chance of a split
at least this uneven if neither run were better). For the detector it reports how often the
searched regions agree: the same number per query, and each first-run box matched by a second-run
box at IoU >= 0.5 and >= 0.9 (greedy, best first). Reads each folder's ``results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

KS = (1, 10, 20)


def read_results(folder: Path) -> dict[str, dict[str, Any]]:
    rows = (json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip())
    return {r["query_id"]: r for r in rows}


def hit(row: dict[str, Any], k: int) -> bool:
    rank = row["first_hit_rank"]
    return rank is not None and rank <= k


def sign_test(lost: int, gained: int) -> float:
    """Two-sided exact binomial p-value of ``lost`` vs ``gained`` flips under p = 1/2."""
    n = lost + gained
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(lost, gained) + 1)) / 2**n
    return min(1.0, 2 * tail)


def flips(reference: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """Queries ``other`` lost and gained against ``reference`` (hit arrays), with the sign test's p."""
    lost, gained = int((reference & ~other).sum()), int((~reference & other).sum())
    return {"lost": lost, "gained": gained, "sign_test_p": round(sign_test(lost, gained), 4)}


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched_ious(first: list[list[float]], second: list[list[float]]) -> list[float]:
    """For each box of ``first``, the IoU of the ``second`` box greedily matched to it (0: none)."""
    pairs = sorted(
        ((iou(a, b), i, j) for i, a in enumerate(first) for j, b in enumerate(second)), reverse=True
    )
    best = [0.0] * len(first)
    used_a: set[int] = set()
    used_b: set[int] = set()
    for value, i, j in pairs:
        if i not in used_a and j not in used_b:
            best[i] = value
            used_a.add(i)
            used_b.add(j)
    return best


def compare(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, Any]:
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit("the two runs share no query")
    out: dict[str, Any] = {"queries": len(common)}
    for k in KS:
        ha = np.array([hit(a[q], k) for q in common])
        hb = np.array([hit(b[q], k) for q in common])
        ra, rb = float(ha.mean()), float(hb.mean())
        out[f"recall@{k}"] = {"first": round(ra, 4), "second": round(rb, 4), "delta": round(rb - ra, 4)}
        out[f"recall@{k}"] |= flips(ha, hb)
    same_count = 0
    ious: list[float] = []
    same_top1 = sum(a[q]["ranking"][:1] == b[q]["ranking"][:1] for q in common)
    same_top10 = sum(set(a[q]["ranking"][:10]) == set(b[q]["ranking"][:10]) for q in common)
    for q in common:
        boxes_a = [r["box"] for r in a[q]["regions"]]
        boxes_b = [r["box"] for r in b[q]["regions"]]
        same_count += len(boxes_a) == len(boxes_b)
        ious += matched_ious(boxes_a, boxes_b)
    out["regions"] = {
        "per_query": [
            round(sum(len(a[q]["regions"]) for q in common) / len(common), 4),
            round(sum(len(b[q]["regions"]) for q in common) / len(common), 4),
        ],
        "same_count": round(same_count / len(common), 4),
        "boxes_matched_iou_0.5": round(sum(v >= 0.5 for v in ious) / max(1, len(ious)), 4),
        "boxes_matched_iou_0.9": round(sum(v >= 0.9 for v in ious) / max(1, len(ious)), 4),
    }
    out["same_top1"] = round(same_top1 / len(common), 4)
    out["same_top10_set"] = round(same_top10 / len(common), 4)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("first", type=Path, help="eval output folder of the reference run")
    parser.add_argument("second", type=Path, help="eval output folder of the run compared with it")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    report = {"first": args.first.name, "second": args.second.name}
    report |= compare(read_results(args.first), read_results(args.second))
    print(json.dumps(report, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
