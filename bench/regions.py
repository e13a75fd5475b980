"""What searching every product costs: single-client latency for 1-3 product screenshots and for
shop grids of 6 and 12 cards, old region cap against new, over real HTTP, in one run.

    python -m bench.regions --data-dir var/bench --manifest var/bench/catalog.csv \
        --images-root var/benchmarks/clothing-screenshots --out bench/results/regions.json

Needs a catalog named ``demo`` in --data-dir. Starts two servers side by side (result cache off):
the baseline (``--baseline-env``, by default the old cap of 5 regions, the old 1% minimum box and
the detector weights of the commit before issue 14, extracted from git) and the current defaults,
and sends the same requests to each in turn, round after round, so machine drift hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import platform
import random
import subprocess
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.load import Upload, closed_loop
from bench.queries import make_queries
from bench.serving import Server
from evaluation.synth.grid import compose_grid

BASELINE_COMMIT = "d4b9215"  # main before issue 14: garment-yolo v1, max_regions 5, min box 1%


def grid_queries(manifest: Path, images_root: Path, cards: int, n: int, seed: int) -> list[bytes]:
    """``n`` seeded shop grids of ``cards`` catalog photos each, as JPEG bytes."""
    with manifest.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if (images_root / r["image"]).is_file()]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        photos = [Image.open(images_root / r["image"]).convert("RGB") for r in rng.sample(rows, cards)]
        out.append(compose_grid(photos, rng).jpeg)
    return out


def baseline_weights(out_dir: Path, commit: str = BASELINE_COMMIT) -> Path:
    """The detector files of ``commit`` (ONNX and checkpoint, for rectangular inputs) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("best.onnx", "best.pt"):
        data = subprocess.run(
            ["git", "show", f"{commit}:models/garment-yolo/{name}"], capture_output=True, check=True
        ).stdout
        (out_dir / name).write_bytes(data)
    return out_dir / "best.onnx"


def cpu_model() -> str:
    """The CPU's model name, as lscpu shows it (speed figures name it)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def regions_per_request(url: str, payloads: list[bytes]) -> float:
    """Mean regions the server searched per request (one request per payload)."""
    counts = []
    for data in payloads:
        upload = Upload.of(data)
        r = httpx.post(
            f"{url}/v1/search",
            content=upload.body,
            headers={"content-type": upload.content_type},
            timeout=120,
        )
        r.raise_for_status()
        counts.append(len(r.json()["regions"]))
    return float(np.mean(counts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("var/bench"))
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--images-root", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=12, help="distinct images per set")
    ap.add_argument("--requests", type=int, default=24, help="requests per set, server and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-env", action="append", default=None, help="KEY=VALUE (repeatable)")
    ap.add_argument("--port", type=int, default=8795)
    ap.add_argument("--out", type=Path, default=Path("bench/results/regions.json"))
    args = ap.parse_args()

    if args.baseline_env is None:
        weights = baseline_weights(args.data_dir / "baseline-detector")
        baseline = {
            "LOOKALIKE_DETECTOR__SPEC": f"yolo:{weights.resolve()}",
            "LOOKALIKE_DETECTOR__CONFIDENCE": "0.15",
            "LOOKALIKE_DETECTOR__MAX_REGIONS": "5",
            "LOOKALIKE_DETECTOR__MIN_BOX_FRACTION": "0.01",
        }
    else:
        baseline = dict(item.split("=", 1) for item in args.baseline_env)
    sets = {
        "1-3 products": [q.jpeg for q in make_queries(args.manifest, args.images_root, args.queries)],
        "6-card grid": grid_queries(args.manifest, args.images_root, 6, args.queries, seed=6),
        "12-card grid": grid_queries(args.manifest, args.images_root, 12, args.queries, seed=12),
    }
    servers = {
        "baseline": Server(args.data_dir, args.port, cache=False, extra_env=baseline),
        "current": Server(args.data_dir, args.port + 1, cache=False),
    }
    p50: dict[str, dict[str, list[float]]] = {s: {k: [] for k in servers} for s in sets}
    try:
        for server in servers.values():
            server.wait_ready()
        regions = {
            s: {k: regions_per_request(srv.url, data) for k, srv in servers.items()}
            for s, data in sets.items()
        }
        for srv in servers.values():  # warm-up: sessions, rectangular exports, allocator
            for data in sets.values():
                asyncio.run(closed_loop(srv.url, data, 1, len(data)))
        for _ in range(args.rounds):
            for name, data in sets.items():
                for key, srv in servers.items():
                    result = asyncio.run(closed_loop(srv.url, data, 1, args.requests))
                    p50[name][key].append(result.pct(50))
    finally:
        for server in servers.values():
            server.stop()
    rows = {
        name: {
            "p50_ms": {k: round(float(np.median(v)), 1) for k, v in by.items()},
            "ratio_current_to_baseline": round(
                float(np.median(by["current"]) / np.median(by["baseline"])), 3
            ),
            "regions_per_request": {k: round(v, 2) for k, v in regions[name].items()},
        }
        for name, by in p50.items()
    }
    if args.baseline_env is None:  # the report names the weights as the command line did, no machine path
        shown = args.data_dir / "baseline-detector" / "best.onnx"
        baseline = {**baseline, "LOOKALIKE_DETECTOR__SPEC": f"yolo:{shown}"}
    report = {"cpu": cpu_model(), "baseline_env": baseline, "sets": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
