"""The service per engine and precision, against the naive baseline and today's default, in one run.

    python -m bench.serving_precision --data-dir var --manifest var/demo/catalog.csv \\
        --images-root ../shared/data/clothing/images --out bench/results/serving-precision.json

Starts one server per variant on loopback ports (the same data folder and ONNX export cache,
so the same int8 copies and the same cached ``auto`` choice), then runs rounds: the naive
pipeline (eager torch, what a notebook loads), then each server with one client and with 16;
each ratio compares figures taken within the same round, and the report takes the median round.
Before the rounds, each server answers the queries one at a time once more: ``c1_stages_ms`` holds
the medians of the client's time, the service's detect and embed times and what lies outside the
two models, to show how much of a request the models are.

Variants: ``today`` (both models pinned to ONNX Runtime fp32: the service before OpenVINO),
``auto`` (the settings' default: the measured choice per model, what /readyz reports under
``runtimes``) and any ``name=ENV=VALUE,...`` given with --variant. Every variant must search the
catalog's vector space: bf16 and OpenVINO fp32 share fp32's, an int8 embedder does not (ingest
again to bench it). The roofline holds each variant's throughput against the fp32 GEMM peak and
against the peak of the precision its models ran in (``bench.roofline.gemm_peaks_gflops``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.load import closed_loop
from bench.naive import NaivePipeline, time_naive
from bench.queries import make_queries
from bench.roofline import detector_gflops, gemm_peaks_gflops, model_gflops
from bench.serving import Server, served_detector_shape
from lookalike.cpu_features import this_cpu
from lookalike.execution import usable_cores
from lookalike.settings import Settings

TODAY = {
    "LOOKALIKE_DETECTOR__ENGINE": "onnxruntime",
    "LOOKALIKE_DETECTOR__PRECISION": "fp32",
    "LOOKALIKE_EMBEDDER__ENGINE": "onnxruntime",
    "LOOKALIKE_EMBEDDER__PRECISION": "fp32",
}


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``name=KEY=VALUE,KEY=VALUE`` -> (name, environment)."""
    name, _, rest = text.partition("=")
    env = dict(item.split("=", 1) for item in rest.split(",") if item)
    return name, env


def runtimes_of(url: str) -> dict[str, str]:
    """What each model of a server runs in, and why (/readyz)."""
    return dict(httpx.get(f"{url}/readyz", timeout=30).json().get("runtimes", {}))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("var"))
    ap.add_argument("--manifest", type=Path, default=Path("var/demo/catalog.csv"))
    ap.add_argument("--images-root", type=Path, default=Path("../shared/data/clothing/images"))
    ap.add_argument("--queries", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=32, help="requests of the 16-client level per round")
    ap.add_argument("--port", type=int, default=8770)
    ap.add_argument("--variant", action="append", default=[], help="name=LOOKALIKE_X=v,... (repeatable)")
    ap.add_argument("--out", type=Path, default=Path("bench/results/serving-precision.json"))
    args = ap.parse_args(argv)

    settings = Settings(data_dir=args.data_dir)
    queries = make_queries(args.manifest, args.images_root, args.queries)
    payloads = [q.jpeg for q in queries]
    variants = {"today": TODAY, "auto": {}} | dict(parse_variant(v) for v in args.variant)
    naive = NaivePipeline(settings, "demo", detector_weights="pt")
    crops = [len(naive.detector.detect([_decode(p)])[0]) or 1 for p in payloads]
    gflop_request = detector_gflops(settings, served_detector_shape(settings, payloads[0])) + float(
        np.mean(crops)
    ) * model_gflops(naive.embedder.model)  # type: ignore[attr-defined]

    # One server at a time, each ready before the next starts: ``auto`` times its candidates at
    # start, and another server loading or warming up beside that trial bends it.
    servers: dict[str, Server] = {}
    rounds: list[dict[str, Any]] = []
    try:
        for i, (name, env) in enumerate(variants.items()):
            servers[name] = Server(args.data_dir, args.port + i, cache=False, extra_env=env)
            servers[name].wait_ready()
        for server in servers.values():
            asyncio.run(closed_loop(server.url, payloads, 2, 8))  # warm-up
        chosen = {name: runtimes_of(server.url) for name, server in servers.items()}
        stages = {name: stage_split(server.url, payloads) for name, server in servers.items()}
        for i in range(args.rounds):
            naive_ms = time_naive(naive, payloads)
            naive_p50, naive_rps = float(np.median(naive_ms)), 1000.0 / float(np.mean(naive_ms))
            row: dict[str, Any] = {"naive_p50_ms": round(naive_p50, 1)}
            for name, server in servers.items():
                asyncio.run(closed_loop(server.url, payloads, 1, 2))
                one = asyncio.run(closed_loop(server.url, payloads, 1, len(payloads)))
                sixteen = asyncio.run(closed_loop(server.url, payloads, 16, args.requests))
                row[name] = {
                    "c1_p50_ms": round(one.pct(50), 1),
                    "c16_rps": round(sixteen.throughput, 2),
                    "c16_errors": sixteen.errors,
                    "c1_speedup_vs_naive": round(naive_p50 / one.pct(50), 2),
                    "c16_vs_naive_stream": round(sixteen.throughput / naive_rps, 2),
                }
            for name in servers:
                row[name]["c1_speedup_vs_today"] = round(
                    row["today"]["c1_p50_ms"] / row[name]["c1_p50_ms"], 2
                )
                row[name]["c16_vs_today"] = round(row[name]["c16_rps"] / row["today"]["c16_rps"], 2)
            rounds.append(row)
            print(f"round {i + 1}", json.dumps(row), flush=True)
    finally:
        for server in servers.values():
            server.stop()
    peaks = gemm_peaks_gflops(usable_cores())
    report: dict[str, Any] = {
        "command": "python -m bench.serving_precision " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": this_cpu().summary(),
        "cores": usable_cores(),
        "queries": len(payloads),
        "model_gflop_per_request": round(gflop_request, 3),
        "gemm_peaks_gflops": peaks,
        "variants": {},
        "rounds": rounds,
    }
    for name, env in variants.items():
        med = {
            key: round(statistics.median(r[name][key] for r in rounds), 2)
            for key in rounds[0][name]
            if key != "c16_errors"
        }
        achieved = med["c16_rps"] * gflop_request
        report["variants"][name] = {
            "env": env,
            "runtimes": chosen[name],
            "c1_stages_ms": stages[name],
            **med,
            "c16_errors": sum(r[name]["c16_errors"] for r in rounds),
            "c16_model_gflops": round(achieved, 1),
            "c16_fraction_of_fp32_gemm_peak": round(achieved / peaks["fp32"], 3),
            "c16_fraction_of_precision_gemm_peak": round(achieved / _ceiling(chosen[name], peaks), 3),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report["variants"], indent=1))


OUTSIDE_STAGES = ("read", "hash", "decode", "search", "metadata")
"""The service's own stage timings outside the two models (``timings_ms``), split out by
``stage_split``."""


def stage_split(url: str, payloads: list[bytes]) -> dict[str, float]:
    """Where one client's request time goes: the medians over the queries, sent one at a time, of
    the client's wall time, the service's own stage timings (``timings_ms``: detect, embed, total)
    and what lies outside the two models (client wall - detect - embed), split into the service's
    stages there (``OUTSIDE_STAGES``: upload parsing, hash, decode, FAISS, catalog rows),
    ``service_other`` (the rest of the service's total: region selection, the thread hand-off,
    the response) and ``http`` (client wall - service total: the HTTP stack on both sides, the
    client included). Detect and embed hold their own pre- and post-processing (letterbox, NMS,
    crops and resizes)."""
    rows: list[dict[str, float]] = []
    with httpx.Client(timeout=120) as client:
        for jpeg in payloads:
            start = time.perf_counter()
            r = client.post(
                f"{url}/v1/search", files={"image": ("q.jpg", jpeg, "image/jpeg")}, data={"k": "10"}
            )
            wall = (time.perf_counter() - start) * 1000.0
            r.raise_for_status()
            t = {name: float(ms) for name, ms in r.json().get("timings_ms", {}).items()}
            total = t.get("total", 0.0)
            staged = {name: t.get(name, 0.0) for name in OUTSIDE_STAGES}
            rows.append(
                {
                    "client": wall,
                    "service_total": total,
                    "detect": t.get("detect", 0.0),
                    "embed": t.get("embed", 0.0),
                    "outside_models": wall - t.get("detect", 0.0) - t.get("embed", 0.0),
                    **staged,
                    "service_other": total
                    - t.get("detect", 0.0)
                    - t.get("embed", 0.0)
                    - sum(staged.values()),
                    "http": wall - total,
                }
            )
    return {key: round(statistics.median(row[key] for row in rows), 1) for key in rows[0]}


def _ceiling(runtimes: dict[str, str], peaks: dict[str, Any]) -> float:
    """The GEMM peak of the lowest precision a variant's models run in (the honest ceiling: the
    higher of the precisions in use)."""
    used = {text.split(" ")[1] for text in runtimes.values() if " " in text}
    return max([float(peaks[p]) for p in used if p in peaks] or [float(peaks["fp32"])])


def _decode(data: bytes) -> Any:
    from bench.serving import naive_decode

    return naive_decode(data)


if __name__ == "__main__":
    main()
