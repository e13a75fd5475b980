"""Serving benchmark: naive baseline vs the service over real HTTP, in one run.

    python -m bench.serving --data-dir var --manifest var/demo/catalog.csv \
        --images-root ../shared/data/clothing/images --out bench/results/serving.json

Needs the demo catalog ingested into --data-dir (``make demo-ingest``). Starts its own
server on a loopback port, twice: without the result cache (compute) and with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
import numpy as np

from bench.load import LoadResult, closed_loop, open_loop, wait_until_ready
from bench.naive import NaivePipeline, time_naive
from bench.queries import make_queries
from bench.roofline import detector_gflops, fresh_matmul_peak_gflops, model_gflops
from lookalike.execution import ExecutionPolicy, usable_cores
from lookalike.settings import Settings


def _tree(pid: int) -> list[int]:
    """The server process and its workers (uvicorn forks one process per worker)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def proc_cpu_s(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _proc_rss_mb(pid: int) -> float:
    total = 0.0
    for p in _tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


class Server:
    def __init__(
        self, data_dir: Path, port: int, cache: bool, extra_env: dict[str, str] | None = None
    ) -> None:
        # An explicit OpenMP team for the server: the harness imported ultralytics (the naive
        # baseline), which leaves OMP_NUM_THREADS=1 in this process's environment.
        env = ExecutionPolicy().child_env(
            os.environ,
            **(extra_env or {}),
            LOOKALIKE_DATA_DIR=str(data_dir),
            LOOKALIKE_API__PRELOAD_CATALOGS='["demo"]',
        )
        if not cache:
            env["LOOKALIKE_CACHE__MAX_BYTES"] = "0"
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(data_dir / f"bench-server-{port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 300) -> None:
        try:
            wait_until_ready(self.url, timeout_s, alive=lambda: self.proc.poll() is None)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see {self.log.name}") from None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def _stats(ms: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)} | {
        "mean_ms": round(float(np.mean(ms)), 1)
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("var"))
    ap.add_argument("--manifest", type=Path, default=Path("var/demo/catalog.csv"))
    ap.add_argument("--images-root", type=Path, default=Path("../shared/data/clothing/images"))
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--levels", default="1,4,16,64")
    ap.add_argument("--requests", type=int, default=48, help="requests per closed-loop level")
    ap.add_argument("--open-seconds", type=float, default=15.0)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved baseline / 1 / 16 client rounds")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--out", type=Path, default=Path("bench/results/serving.json"))
    args = ap.parse_args()

    settings = Settings(data_dir=args.data_dir)
    queries = make_queries(args.manifest, args.images_root, args.queries)
    payloads = [q.jpeg for q in queries]
    report: dict[str, object] = {
        "machine": f"{platform.node()} {usable_cores()} cores, {platform.processor() or platform.machine()}",
        "python": platform.python_version(),
        "queries": len(payloads),
        "products_per_query": round(float(np.mean([len(q.item_ids) for q in queries])), 2),
    }

    # Two honest baselines, both through ultralytics' predict: the trained checkpoint in eager
    # torch (what a notebook loads) and, for transparency, the ONNX export of the same weights.
    peak_before = fresh_matmul_peak_gflops()
    naives = {w: NaivePipeline(settings, "demo", detector_weights=w) for w in ("pt", "onnx")}
    naive = naives["pt"]
    crops = [len(naive.detector.detect([naive_decode(p)])[0]) or 1 for p in payloads]
    gflop_per_crop = model_gflops(naive.embedder.model)  # type: ignore[attr-defined]
    detector_shape = served_detector_shape(settings, payloads[0])
    gflop_detector = detector_gflops(settings, detector_shape)
    gflop_per_request = gflop_detector + float(np.mean(crops)) * gflop_per_crop

    print("service without result cache ...", flush=True)
    server = Server(args.data_dir, args.port, cache=False)
    try:
        server.wait_ready()
        asyncio.run(closed_loop(server.url, payloads, 2, 8))  # warm-up
        # The CPU's speed drifts by about 20% within minutes, so the ratios come from rounds
        # that each time the baselines, one client and 16 clients back to back (the server
        # idles while the baselines run), and the report takes the median round.
        naive_ms: dict[str, list[float]] = {w: [] for w in naives}
        rounds = []
        for i in range(args.rounds):
            times = {w: time_naive(pipeline, payloads) for w, pipeline in naives.items()}
            asyncio.run(closed_loop(server.url, payloads, 1, 2))  # one warm-up call each, as time_naive
            one = asyncio.run(closed_loop(server.url, payloads, 1, len(payloads)))
            sixteen = asyncio.run(closed_loop(server.url, payloads, 16, max(args.requests, 32)))
            for w, ms in times.items():
                naive_ms[w] += ms
            row = _round(times, one, sixteen)
            # The GEMM ceiling of this round's minute, right after its load (a fresh interpreter).
            row["gemm_peak_gflops"] = round(fresh_matmul_peak_gflops(), 1)
            row["c16_fraction_of_round_peak"] = round(
                sixteen.throughput * gflop_per_request / row["gemm_peak_gflops"], 3
            )
            rounds.append(row)
            print(f"  round {i + 1}", rounds[-1], flush=True)
        closed: list[LoadResult] = []
        cpu: dict[str, float] = {}
        for clients in [int(c) for c in args.levels.split(",")]:
            cpu0, t0 = proc_cpu_s(server.proc.pid), time.perf_counter()
            closed.append(
                asyncio.run(closed_loop(server.url, payloads, clients, max(args.requests, clients * 2)))
            )
            cpu[str(clients)] = round((proc_cpu_s(server.proc.pid) - cpu0) / (time.perf_counter() - t0), 2)
            print("  closed", closed[-1].row(), flush=True)
        rss = _proc_rss_mb(server.proc.pid)
        knee = max(r.throughput for r in closed)
        opened = []
        for fraction in (0.5, 0.8, 1.0, 1.3):
            opened.append(asyncio.run(open_loop(server.url, payloads, knee * fraction, args.open_seconds)))
            print("  open", opened[-1].row(), flush=True)
    finally:
        server.stop()
    del naives, naive
    for w, key in (("pt", "naive"), ("onnx", "naive_onnx_detector")):
        report[key] = _stats(naive_ms[w]) | {"rps": round(1000.0 / float(np.mean(naive_ms[w])), 2)}
    report["rounds"] = rounds
    report["closed_loop"] = [
        {
            **r.row(),
            "server_cpu_cores": cpu[str(int(r.level))],
            # CPU the server spends per request: what bounds throughput once every core is busy
            "server_core_ms_per_request": (
                round(1000.0 * cpu[str(int(r.level))] / r.throughput, 1) if r.throughput else None
            ),
        }
        for r in closed
    ]
    report["open_loop"] = [r.row() for r in opened]
    report["server_rss_mb"] = round(rss, 1)

    peak_after = fresh_matmul_peak_gflops()
    peak = max(peak_before, peak_after)  # the higher ceiling: a noisy neighbour only lowers it
    best = max(closed, key=lambda r: r.throughput)
    achieved = best.throughput * gflop_per_request
    alone = stage_gflops_alone(settings, payloads[0], gflop_detector, gflop_per_crop)
    report["roofline"] = {
        "stages_alone": alone,
        "matmul_peak_gflops": round(peak, 1),
        "matmul_peak_gflops_before_after": [round(peak_before, 1), round(peak_after, 1)],
        "detector_gflop_per_image": round(gflop_detector, 3),
        "detector_input_hw": detector_shape,
        "embedder_gflop_per_crop": round(gflop_per_crop, 3),
        "model_gflop_per_request": round(gflop_per_request, 3),
        "crops_per_request": round(float(np.mean(crops)), 2),
        "achieved_model_gflops_at_best_level": round(achieved, 1),
        "fraction_of_peak": round(achieved / peak, 3),
        "c16_fraction_of_round_peak_median": _median(r["c16_fraction_of_round_peak"] for r in rounds),
    }

    print("service with result cache ...", flush=True)
    server = Server(args.data_dir, args.port + 1, cache=True)
    try:
        server.wait_ready()
        with httpx.Client(timeout=60) as client:
            hits = []
            for i in range(60):
                start = time.perf_counter()
                r = client.post(
                    f"{server.url}/v1/search", files={"image": ("q.jpg", payloads[0], "image/jpeg")}
                )
                r.raise_for_status()
                if i:  # the first is the miss that fills the cache
                    hits.append((time.perf_counter() - start) * 1000.0)
    finally:
        server.stop()
    report["cache_hit"] = _stats(hits)

    c16 = next((r for r in report["closed_loop"] if r["level"] == 16), None)  # type: ignore[attr-defined]
    for name, key in (("ratios", "pt"), ("ratios_vs_onnx_detector_baseline", "onnx")):
        report[name] = {
            "single_client_p50_speedup": _median(r[f"single_speedup_vs_{key}"] for r in rounds),
            "c16_throughput_vs_naive_single_stream": _median(r[f"c16_vs_{key}_stream"] for r in rounds),
            "c16_p99_over_p50": _median(r["c16_p99_over_p50"] for r in rounds),
            "c16_errors": sum(int(r["c16_errors"]) for r in rounds) + (int(c16["errors"]) if c16 else 0),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def _round(naive: dict[str, list[float]], one: LoadResult, sixteen: LoadResult) -> dict[str, float]:
    """One round's figures: each ratio compares measurements taken within seconds of each other."""
    row: dict[str, float] = {"c1_p50_ms": round(one.pct(50), 1), "c16_rps": round(sixteen.throughput, 2)}
    for w, ms in naive.items():
        p50, rps = float(np.median(ms)), 1000.0 / float(np.mean(ms))
        row[f"naive_{w}_p50_ms"] = round(p50, 1)
        row[f"single_speedup_vs_{w}"] = round(p50 / one.pct(50), 2)
        row[f"c16_vs_{w}_stream"] = round(sixteen.throughput / rps, 2)
    row["c16_p99_over_p50"] = round(sixteen.pct(99) / sixteen.pct(50), 2)
    row["c16_errors"] = sixteen.errors
    return row


def _median(values: Iterable[float]) -> float:
    return round(float(np.median(list(values))), 2)


def served_detector_shape(settings: Settings, data: bytes) -> tuple[int, int] | None:
    """The detector input the service runs for this upload (a rectangle for a phone screenshot)."""
    from detector import load_detector
    from detector.onnx_yolo import OnnxYoloDetector
    from lookalike.imaging import decode_image

    detector = load_detector(settings.detector)
    if not isinstance(detector, OnnxYoloDetector):
        return None
    image = decode_image(data, draft_long_side=settings.api.decode_long_side or None)
    return detector.input_shape(image.width, image.height)


def stage_gflops_alone(
    settings: Settings, data: bytes, gflop_detector: float, gflop_per_crop: float
) -> dict[str, float]:
    """The detector and the embedder of the service timed alone on an idle process (p50 of 30
    calls, pre- and post-processing included): how close each model gets to the peak."""
    from detector import load_detector
    from embedder import load_embedder
    from lookalike.imaging import decode_image

    image = decode_image(data, draft_long_side=settings.api.decode_long_side or None)
    execution = ExecutionPolicy()  # the two models share one, as in the service
    detector = load_detector(settings.detector, execution=execution, export_dir=settings.onnx_dir)
    embedder = load_embedder(settings.embedder, settings.onnx_dir, execution=execution)
    crops = [image.crop(r.box) for r in detector.detect([image])[0]][:3] or [image.pixels]

    def p50_ms(call: Callable[[], object]) -> float:
        for _ in range(3):
            call()
        times = []
        for _ in range(30):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000.0)
        return float(np.median(times))

    detect_ms = p50_ms(lambda: detector.detect([image]))
    embed_ms = p50_ms(lambda: embedder.embed_images(crops))
    return {
        "detector_ms": round(detect_ms, 1),
        "detector_gflops": round(gflop_detector / detect_ms * 1000.0, 1),
        "embedder_crops": len(crops),
        "embedder_ms": round(embed_ms, 1),
        "embedder_gflops": round(gflop_per_crop * len(crops) / embed_ms * 1000.0, 1),
    }


def naive_decode(data: bytes):  # type: ignore[no-untyped-def]
    import io

    from PIL import Image

    from lookalike.types import DecodedImage

    return DecodedImage(Image.open(io.BytesIO(data)).convert("RGB"), "")


if __name__ == "__main__":
    main()
