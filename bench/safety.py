"""The upload safety gate, measured: how often a policy refuses or flags benign photos, and its cost.

    python -m bench.safety rates --out bench/results/safety-rates.json
    python -m bench.safety cost --queries 8 --rounds 2 --catalog 100 --regions auto \
        --out bench/results/safety-cost-auto.json

``rates`` runs NudeNet (``understanding.safety.BodyDetector``) over every photo of the shared
clothing catalog (5,756 garment photos, flat-lay, hangers, some worn) and the people photos (800
street-fashion shots, swimwear and underwear among the garments), keeps each photo's best score
per class (``--scores``, so another policy is judged without running the model again), and
reports, for the default policy and for each single rule of a threshold sweep, the share of
photos it would refuse and flag. Every photo here is benign: each refusal is a false refusal.

``cost`` times ``SearchService.search_bytes`` (the call ``POST /v1/search`` makes; result cache
off) on people photos, round after round in one run: ``plain`` (an empty policy: the gate never
runs), ``gate`` (the default policy) and ``explain`` (``explain=true``: each region's best match
explained, explanation cache off), with the gate's and the explanations' own stage times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.ocr import cpu_model
from evaluation.datasets.common import default_shared_data
from lookalike.settings import DEFAULT_SAFETY_RULES, NUDENET_CLASSES, SafetyRule
from understanding.safety import BodyDetector, judge

SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7)
LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}


def photo_sets(shared: Path) -> dict[str, list[Path]]:
    return {
        "clothing": sorted((shared / "clothing" / "images").glob("*.jpg")),
        "people": sorted((shared / "people" / "images").glob("*.jpg")),
    }


def scan(paths: Sequence[Path], detector: BodyDetector) -> dict[str, dict[str, float]]:
    from PIL import Image

    out: dict[str, dict[str, float]] = {}
    for path in paths:
        with Image.open(path) as image:
            out[path.name] = {k: round(v, 4) for k, v in detector.class_scores(image).items()}
    return out


def rates(scores: dict[str, dict[str, float]], rules: Sequence[SafetyRule]) -> dict[str, Any]:
    verdicts = [judge(s, rules) for s in scores.values()]
    refused = [name for name, v in zip(scores, verdicts, strict=True) if v.action == "refuse"]
    flagged = [name for name, v in zip(scores, verdicts, strict=True) if v.action == "flag"]
    return {
        "photos": len(scores),
        "refuse_rate": round(len(refused) / max(len(scores), 1), 4),
        "refused": len(refused),
        "flagged": len(flagged),
        "flag_rate": round(len(flagged) / max(len(scores), 1), 4),
        "refused_photos": refused[:20],
        "flagged_photos": flagged[:20],
    }


def class_shares(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per class, the share of photos where the model finds it at each swept threshold."""
    n = max(len(scores), 1)
    return {
        label: {f"{t:.1f}": round(sum(s[label] >= t for s in scores.values()) / n, 4) for t in SWEEP}
        for label in NUDENET_CLASSES
    }


def run_rates(args: argparse.Namespace) -> dict[str, Any]:
    cached: dict[str, dict[str, dict[str, float]]] = {}
    if args.scores and args.scores.is_file():
        cached = json.loads(args.scores.read_text())
    detector = BodyDetector(side=args.side)
    timings: dict[str, float] = {}
    for name, paths in photo_sets(args.shared).items():
        if name in cached and len(cached[name]) == len(paths):
            continue
        start = time.perf_counter()
        cached[name] = scan(paths[: args.limit] if args.limit else paths, detector)
        timings[name] = round((time.perf_counter() - start) * 1000.0 / max(len(cached[name]), 1), 1)
    if args.scores:  # the scores, and what scanning them cost, for the next run
        args.scores.parent.mkdir(parents=True, exist_ok=True)
        args.scores.write_text(json.dumps(cached))
        ms_file = args.scores.with_suffix(".ms.json")
        if timings or not ms_file.is_file():
            ms_file.write_text(json.dumps(timings))
        timings = json.loads(ms_file.read_text())
    default = list(DEFAULT_SAFETY_RULES)
    return {
        "command": f"python -m bench.safety rates --side {args.side}",
        "cpu": cpu_model(),
        "model": f"NudeNet 320n.onnx (nudenet 3.4.2) at {args.side} px in ONNX Runtime, best class score",
        "ms_per_photo": timings,
        "default_policy": [r.model_dump() for r in default],
        "default": {name: rates(s, default) for name, s in cached.items()},
        "sweep": {
            f"{rule.action} {'+'.join(rule.classes)}": {
                f"{t:.1f}": {
                    name: rates(s, [rule.model_copy(update={"min_score": t})])[f"{rule.action}_rate"]
                    for name, s in cached.items()
                }
                for t in SWEEP
            }
            for rule in default
        },
        "class_shares": {name: class_shares(s) for name, s in cached.items()},
    }


def run_cost(args: argparse.Namespace) -> dict[str, Any]:
    from catalog_ingest import ingest_manifest
    from catalog_ingest.datasets.clothing import write_clothing_manifest
    from lookalike.settings import DetectorSettings, ExplainSettings, SafetySettings, Settings
    from service.runtime import Runtime
    from service.search import SearchRequest

    photos = photo_sets(args.shared)
    people = [p.read_bytes() for p in photos["people"][: args.queries]]
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            detector=DetectorSettings(spec="garment-yolo"),
            explain=ExplainSettings(cache_entries=0),  # every explanation computed, none from memory
        )
        runtime = Runtime(settings)  # not serving: no result cache
        manifest = Path(tmp) / "catalog.csv"
        write_clothing_manifest(
            args.shared / "clothing", manifest, item_ids={p.stem for p in photos["clothing"][: args.catalog]}
        )
        report = ingest_manifest(
            runtime.ingest_parts(),
            manifest,
            "bench",
            images_root=args.shared / "clothing" / "images",
            progress=False,
        )
        assert report.index_version, report.summary()
        service = runtime.search
        default = tuple(SafetySettings().rules)
        variants = {
            "plain": SearchRequest("bench", k=10, safety=(), regions=args.regions),
            "gate": SearchRequest("bench", k=10, safety=default, regions=args.regions),
            "explain": SearchRequest("bench", k=10, safety=(), explain=True, regions=args.regions),
        }
        services = {name: service for name in variants}
        if args.also_side:  # the same search with the gate at another input side
            import copy

            from understanding import BodyDetector, SafetyGate

            other = copy.copy(service)
            other.gate = SafetyGate(BodyDetector(execution=runtime.execution, side=args.also_side))
            name = f"gate-{args.also_side}"
            variants[name], services[name] = variants["gate"], other
        for name, request in variants.items():  # load every model before timing
            services[name].search_bytes(people[0], request, **LIMITS)
        times: dict[str, list[float]] = {name: [] for name in variants}
        stage: dict[str, list[float]] = {"safety": [], "explain": [], "explain_per_match": []}
        stage[f"gate-{args.also_side}"] = []
        for _ in range(args.rounds):
            for data in people:
                for name, request in variants.items():
                    start = time.perf_counter()
                    result = services[name].search_bytes(data, request, **LIMITS)
                    times[name].append((time.perf_counter() - start) * 1000.0)
                    for key in ("safety", "explain"):
                        if key in result.timings_ms:
                            stage[key if name != f"gate-{args.also_side}" else name].append(
                                result.timings_ms[key]
                            )
                    if "explain" in result.timings_ms:
                        explained = sum(1 for r in result.regions for m in r.matches if m.explanation)
                        stage["explain_per_match"].append(result.timings_ms["explain"] / max(explained, 1))
        p50 = {name: statistics.median(v) for name, v in times.items()}
    return {
        "command": (
            f"python -m bench.safety cost --queries {args.queries} --rounds {args.rounds} "
            f"--catalog {args.catalog} --regions {args.regions}"
            + (f" --also-side {args.also_side}" if args.also_side else "")
        ),
        "cpu": cpu_model(),
        "queries": (
            f"{args.queries} people photos (512 px), garment-yolo detector, MobileNetV2, "
            f"{args.catalog}-item clothing catalog, regions={args.regions}, result cache off"
        ),
        "p50_ms": {name: round(v, 1) for name, v in p50.items()},
        "ratio_over_plain": {name: round(v / p50["plain"], 3) for name, v in p50.items()},
        "stage_p50_ms": {name: round(statistics.median(v), 1) for name, v in stage.items() if v},
        "explain_grid": f"{settings.explain.grid}x{settings.explain.grid}, window {settings.explain.window}",
        "n": {name: len(v) for name, v in times.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["rates", "cost"])
    parser.add_argument("--shared", type=Path, default=default_shared_data())
    parser.add_argument("--side", type=int, default=320, help="NudeNet's input side (safety.input_side)")
    parser.add_argument(
        "--scores", type=Path, default=None, help="default: var/bench/safety-scores[-SIDE].json"
    )
    parser.add_argument("--limit", type=int, default=0, help="photos per set (0: all)")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--regions", choices=["none", "auto"], default="none")
    parser.add_argument("--also-side", type=int, default=0, help="cost: time the gate at this side too")
    parser.add_argument("--catalog", type=int, default=200, help="clothing items in the cost bench's catalog")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.scores is None:
        args.scores = Path(f"var/bench/safety-scores{'' if args.side == 320 else f'-{args.side}'}.json")
    result = run_rates(args) if args.what == "rates" else run_cost(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
