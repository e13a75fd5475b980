"""Single-client latency of the API on Ray Serve against `lookalike serve`, in one run.

    python -m bench.ray_serve --clothing-dir ../shared/data/clothing --catalog-images 100 --queries 40

Loads a catalog, then starts `lookalike serve` (uvicorn, one process) and `lookalike serve --runner
ray` (a local cluster on this machine's CPUs: the API, detector and embedder deployments), taking
turns ``--rounds`` times, on the same data folder and settings, and sends each the same query
photos (not in the catalog, so no result is cached), one request after the other. Figures: p50
and p95 of the client's round trip and the server's own stage timings, for each run, and the
ratio of the p50s per round.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.bulk_search import free_port
from bench.ray_ingest import cpu_model
from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.settings import Settings
from service.runtime import Runtime


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout_s: float = 600) -> None:
    deadline = time.time() + timeout_s
    with httpx.Client(timeout=10) as client:
        while time.time() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}")
            try:
                if client.get(f"{base}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    raise RuntimeError("the server did not become ready")


def measure(runner: str, data_dir: Path, queries: list[Path], warmup: list[Path]) -> dict[str, Any]:
    """Start the server with ``--runner``, warm it up, then time one search after another."""
    port = free_port()
    env = {
        **os.environ,
        "LOOKALIKE_DATA_DIR": str(data_dir),
        "LOOKALIKE_API__DEFAULT_CATALOG": "bench",
        # A slow search on a busy machine (or a model's first run at a new input shape) is timed,
        # not refused with 503 at the default 10 s budget.
        "LOOKALIKE_API__SEARCH_BUDGET_S": "120",
    }
    command = [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level", "warning"]
    started = time.perf_counter()
    server = subprocess.Popen([*command, "--runner", runner], env=env, stdout=sys.stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server)
        ready_s = time.perf_counter() - started
        round_trips: list[float] = []
        stages: dict[str, list[float]] = {}
        with httpx.Client(timeout=120) as client:
            for path in warmup:  # the first searches load the index and make the models' sessions
                warm = client.post(f"{base}/v1/search", files={"image": path.read_bytes()})
                if warm.status_code != 200:
                    raise RuntimeError(f"warm-up search: {warm.status_code} {warm.text}")
            for path in queries:
                start = time.perf_counter()
                response = client.post(f"{base}/v1/search", files={"image": path.read_bytes()})
                round_trips.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"search: {response.status_code} {response.text}")
                for name, ms in response.json()["timings_ms"].items():
                    stages.setdefault(name, []).append(ms)
        return {
            "ready_s": round(ready_s, 1),
            "p50_ms": round(float(np.percentile(round_trips, 50)), 1),
            "p95_ms": round(float(np.percentile(round_trips, 95)), 1),
            "server_stage_p50_ms": {k: round(float(np.percentile(v, 50)), 1) for k, v in stages.items()},
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, required=True)
    parser.add_argument("--catalog-images", type=int, default=200)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="each server this many times, taking turns")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-serve-"))
    settings = Settings(data_dir=work / "data")
    manifest = write_clothing_manifest(args.clothing_dir, work / "catalog.csv", limit=args.catalog_images)
    images = args.clothing_dir / "images"
    ingest_manifest(
        Runtime(settings).ingest_parts("bench"), manifest, "bench", images_root=images, progress=False
    )
    with manifest.open(newline="") as f:
        used = {row["image"] for row in csv.DictReader(f)}
    unused = [p for p in sorted(images.glob("*.jpg")) if p.name not in used]
    warmup, queries = unused[:5], unused[5 : 5 + args.queries]
    result: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "catalog_images": args.catalog_images,
        "queries": len(queries),
        "load_average_before": os.getloadavg()[0],
    }
    runs: dict[str, list[dict[str, Any]]] = {"uvicorn": [], "ray_serve": []}
    for _ in range(args.rounds):  # taking turns: a machine whose load drifts favours neither
        runs["uvicorn"].append(measure("local", settings.data_dir, queries, warmup))
        runs["ray_serve"].append(measure("ray", settings.data_dir, queries, warmup))
    result.update(runs)
    result["load_average_after"] = os.getloadavg()[0]
    ratios = [r["p50_ms"] / u["p50_ms"] for u, r in zip(runs["uvicorn"], runs["ray_serve"], strict=True)]
    result["ray_serve_p50_vs_uvicorn_per_round"] = [round(x, 2) for x in ratios]
    result["ray_serve_p50_vs_uvicorn_median"] = round(float(np.median(ratios)), 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
