"""Cheap retrieval wins measured from one pass of a benchmark's query vectors (issue 15).

    python -m bench.retrieval_wins var/benchmarks/grocery-val --detector none --out result.json

Each query goes through the served pipeline's own steps (the eval's cached catalog, ``decode_image``
with the API's limits, the detector's regions, the embedder), once; the vectors of every region and
of the whole image are kept, and the variants are scored from them in numpy against the catalog's
exact vectors: database-side augmentation (alpha-DBA: each catalog vector replaced by the
similarity**alpha-weighted sum of its k nearest catalog vectors, itself included), alpha query
expansion (``search.query_expansion``) and region + whole-image score fusion
(``search.whole_image_fusion``, over each region's own ``4 x 20`` nearest vectors, an item beyond the
whole image's ``whole_image_depth`` nearest scoring the last one's similarity, as served). The
baseline row must equal ``lookalike eval``'s item recall on the same benchmark: it is checked
against ``--eval-report`` when given. Item recall merges regions (best score per item); region
recall judges each ground-truth box by the searched region that overlaps it most, as
``evaluation.metrics`` does. Use it to choose settings on a split you do not report, then confirm
with ``lookalike eval`` (the served code).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.benchmark import Benchmark, load_benchmark
from evaluation.runner import EVAL_CATALOG, SEARCH_K, prepare_catalog
from lookalike.imaging import decode_image
from lookalike.settings import SearchSettings, load_settings, with_fields
from lookalike.types import Box
from service.search import NEIGHBOUR_OVERSAMPLE, SearchRequest, StageTimer

Matrix = npt.NDArray[np.float32]
KS = (1, 10)


@dataclass
class QueryVectors:
    relevant: frozenset[str]
    boxes: list[tuple[Box, str]]
    regions: list[Box]
    vectors: Matrix
    whole: Matrix


def embed_queries(
    bench: Benchmark,
    settings_path: Path | None,
    detector: str | None,
    embedder: str | None,
    flip_average: bool = False,
) -> tuple[list[QueryVectors], Matrix, list[str]]:
    """Every query's region and whole-image vectors, and the catalog's vectors with their items."""
    settings = load_settings(settings_path)
    settings = with_fields(settings, "detector", spec=detector)
    settings = with_fields(settings, "embedder", spec=embedder, flip_average=True if flip_average else None)
    _, runtime = prepare_catalog(bench, settings, progress=False)
    _, index = runtime.indexes.get(EVAL_CATALOG)
    items = sorted(set(bench.categories))
    parts = [(item, index.item_vectors(item)) for item in items]
    catalog = np.concatenate([v for _, v in parts]).astype(np.float32)
    owners = [item for item, v in parts for _ in range(len(v))]
    api, search = runtime.settings.api, runtime.search
    request = SearchRequest(catalog=EVAL_CATALOG, k=SEARCH_K)
    out = []
    for query in bench.queries:
        image = decode_image(
            query.image.read_bytes(),
            source=str(query.image),
            max_bytes=api.max_upload_bytes,
            max_pixels=api.max_pixels,
            draft_long_side=search.draft_long_side,
            max_full_decode_pixels=search.full_decode_pixels,
        )
        regions = search.detect(image, request, StageTimer())
        full = Box.full(image.width, image.height)
        vectors = runtime.embedder.embed_images([image.crop(r.box) for r in regions] + [image.crop(full)])
        to_original = 1.0 / image.scale
        out.append(
            QueryVectors(
                query.relevant,
                [(t.box, t.item_id) for t in query.boxes],
                [r.box.scaled(to_original) for r in regions],
                vectors[:-1],
                vectors[-1:],
            )
        )
    return out, catalog, owners


def item_scores(scores: Matrix, starts: npt.NDArray[np.intp]) -> Matrix:
    """Per query row, each item's best score over its vectors (the catalog's rows are grouped by
    item, items sorted; ``starts`` is where each item's rows begin)."""
    return np.maximum.reduceat(scores, starts, axis=1)


def first_rows(owners: list[str]) -> npt.NDArray[np.intp]:
    return np.array([i for i, o in enumerate(owners) if i == 0 or owners[i - 1] != o], dtype=np.intp)


def ranked(row: Matrix) -> npt.NDArray[np.intp]:
    """Item columns best first, ties by item id (columns are in item id order)."""
    return np.argsort(-row, kind="stable")[:SEARCH_K]


def served_whole(scores: Matrix, starts: npt.NDArray[np.intp]) -> Matrix:
    """The whole image's item scores as the service uses them: exact for the items among its
    ``whole_image_depth`` nearest vectors, the last of those items' score for every other item."""
    depth = min(SearchSettings().whole_image_depth, scores.shape[1])
    cutoff = -np.sort(-scores[0])[depth - 1]
    exact = item_scores(scores, starts)[0]
    near = item_scores(np.where(scores >= cutoff, 1.0, 0.0).astype(np.float32), starts)[0] > 0
    return np.where(near, exact, exact[near].min()).astype(np.float32)


def normalise(x: Matrix) -> Matrix:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def dba(catalog: Matrix, k: int, alpha: float) -> Matrix:
    """alpha-DBA: each vector the similarity**alpha-weighted sum of its k nearest (itself first)."""
    if k <= 1:
        return catalog
    sims = catalog @ catalog.T
    near = np.argsort(-sims, axis=1)[:, :k]
    weights = np.take_along_axis(np.clip(sims, 0, None), near, axis=1) ** alpha
    return normalise(np.einsum("ik,ikd->id", weights, catalog[near]))


def aqe(vectors: Matrix, catalog: Matrix, n: int, alpha: float) -> Matrix:
    """alpha-QE as ``service.whole_image.expand_queries``: the query plus its n nearest catalog vectors."""
    if n <= 0 or len(vectors) == 0:
        return vectors
    sims = vectors @ catalog.T
    near = np.argsort(-sims, axis=1)[:, :n]
    weights = np.take_along_axis(np.clip(sims, 0, None), near, axis=1) ** alpha
    return normalise(vectors + np.einsum("ik,ikd->id", weights, catalog[near]))


def score(
    queries: list[QueryVectors], catalog: Matrix, owners: list[str], *, qe: int, alpha: float, fusion: float
) -> dict[str, Any]:
    """Item recall@k (regions merged) and region recall@k of one variant."""
    items = sorted(set(owners))
    starts = first_rows(owners)
    reach = SEARCH_K * NEIGHBOUR_OVERSAMPLE
    hits = {k: 0 for k in KS}
    region_hits = {k: 0 for k in KS}
    boxes = 0
    for q in queries:
        vecs = aqe(q.vectors, catalog, qe, alpha)
        raw = vecs @ catalog.T
        per_item = item_scores(raw, starts)
        if fusion > 0:
            whole = served_whole(q.whole @ catalog.T, starts)
            fused = (per_item + fusion * whole[None, :]) / (1.0 + fusion)
            # only each region's own nearest vectors' items are candidates, as served
            cutoff = -np.sort(-raw, axis=1)[:, min(reach, raw.shape[1]) - 1 : min(reach, raw.shape[1])]
            own = item_scores(np.where(raw >= cutoff, 1.0, 0.0).astype(np.float32), starts) > 0
            per_item = np.where(own, fused, -np.inf).astype(np.float32)
        rankings = [ranked(row) for row in per_item]
        order = [items[c] for c in ranked(np.max(per_item, axis=0))] if len(per_item) else []
        for k in KS:
            hits[k] += any(i in q.relevant for i in order[:k])
        for truth, item in q.boxes:
            boxes += 1
            overlaps = [truth.iou(r) for r in q.regions]
            if not overlaps or max(overlaps) <= 0:
                continue
            best = int(np.argmax(overlaps))
            for k in KS:
                region_hits[k] += item in [items[c] for c in rankings[best][:k]]
    n = len(queries)
    out: dict[str, Any] = {f"item@{k}": round(hits[k] / n, 4) for k in KS}
    if boxes:
        out.update({f"region@{k}": round(region_hits[k] / boxes, 4) for k in KS})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("benchmark", type=Path)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--detector", default=None)
    parser.add_argument("--embedder", default=None)
    parser.add_argument("--flip-average", action="store_true", help="embedder.flip_average (catalog too)")
    parser.add_argument("--dba", default="1,2,3", help="DBA neighbour counts (1: off)")
    parser.add_argument("--qe", default="0,1,2,3", help="query expansion counts (0: off)")
    parser.add_argument("--fusion", default="0,0.25,0.5,1", help="whole-image fusion weights (0: off)")
    parser.add_argument("--alpha", type=float, default=3.0)
    parser.add_argument("--eval-report", type=Path, default=None, help="report.json of the same run's eval")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    bench = load_benchmark(args.benchmark)
    flip = args.flip_average
    queries, catalog, owners = embed_queries(bench, args.config, args.detector, args.embedder, flip)
    rows = []
    for k in (int(x) for x in args.dba.split(",")):
        augmented = dba(catalog, k, args.alpha)
        for qe in (int(x) for x in args.qe.split(",")):
            for w in (float(x) for x in args.fusion.split(",")):
                row = {
                    "dba": k,
                    "qe": qe,
                    "fusion": w,
                    **score(queries, augmented, owners, qe=qe, alpha=args.alpha, fusion=w),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.eval_report is not None:
        recall = json.loads(args.eval_report.read_text())["metrics"]["recall"]
        base = rows[0]
        print(
            f"eval item@1 {recall['1']:.4f} @10 {recall['10']:.4f}; "
            f"here {base['item@1']:.4f} / {base['item@10']:.4f}"
        )
    if args.out is not None:
        args.out.write_text(
            json.dumps({"benchmark": bench.name, "alpha": args.alpha, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
