"""Soak: minutes of steady load at 70% of the capacity measured in the same run.

    python -m bench.soak --minutes 10 --out bench/results/soak.json      (make soak)

Builds a small catalog from the shared clothing photos in --data-dir when it has none, starts
its own server (result cache off: every request computes), measures capacity closed-loop, then
sends an open-loop stream at ``--load`` of it for ``--minutes``, one window a minute. Reports the
errors, the server's RSS after each window (growth from the first window to the last) and p50 /
p99 per window. Goals (docs/RELIABILITY.md): 0 errors, RSS growth < 10%, a stable p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.load import closed_loop, open_loop
from bench.queries import make_queries
from bench.serving import Server, _proc_rss_mb
from catalog_ingest.datasets.clothing import write_clothing_manifest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "clothing"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ensure_catalog(data_dir: Path, images_root: Path, items: int) -> Path:
    """The catalog "demo" of ``items`` clothing photos in ``data_dir`` (ingested once)."""
    manifest = data_dir / "soak-catalog.csv"
    if (data_dir / "indexes" / "demo" / "CURRENT").is_file() and manifest.is_file():
        return manifest
    data_dir.mkdir(parents=True, exist_ok=True)
    photos = sorted(p.stem for p in images_root.glob("*.jpg"))[:items]
    write_clothing_manifest(images_root.parent, manifest, item_ids=set(photos))
    env = {**os.environ, "LOOKALIKE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "cli.main", "ingest", str(manifest), "--catalog", "demo"]
    subprocess.run([*command, "--images-root", str(images_root), "--no-progress"], env=env, check=True)
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", type=Path, default=Path("var/soak"))
    ap.add_argument("--images-root", type=Path, default=SHARED / "images")
    ap.add_argument("--items", type=int, default=300, help="catalog size when one is built")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--load", type=float, default=0.7, help="share of the measured capacity")
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    ap.add_argument("--port", type=int, default=0, help="the server's port; 0: a free one")
    args = ap.parse_args()

    manifest = ensure_catalog(args.data_dir, args.images_root, args.items)
    payloads = [q.jpeg for q in make_queries(manifest, args.images_root, args.queries)]
    server = Server(args.data_dir, args.port or free_port(), cache=False)
    try:
        server.wait_ready()
        asyncio.run(closed_loop(server.url, payloads, 2, 8))  # warm
        capacity = asyncio.run(closed_loop(server.url, payloads, 4, 48)).throughput
        rate = args.load * capacity
        print(
            f"capacity {capacity:.2f} req/s; soaking at {rate:.2f} req/s for {args.minutes:g} min", flush=True
        )
        windows = []
        started = time.monotonic()
        while time.monotonic() - started < args.minutes * 60:
            window = asyncio.run(open_loop(server.url, payloads, rate, 60.0))
            row = window.row() | {"rss_mb": round(_proc_rss_mb(server.proc.pid), 1)}
            row["load_average_1m"] = round(os.getloadavg()[0], 1)  # the box is shared: how busy it was
            row["statuses"] = window.status_counts  # type: ignore[assignment]
            windows.append(row)
            print(json.dumps(row), flush=True)
        first, last = windows[0]["rss_mb"], windows[-1]["rss_mb"]
        p99s = [w["p99_ms"] for w in windows]
        report = {
            "command": "python -m bench.soak " + " ".join(sys.argv[1:]),
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "capacity_rps": round(capacity, 2),
            "rate_rps": round(rate, 2),
            "minutes": round((time.monotonic() - started) / 60, 1),
            "requests": sum(w["ok"] + w["errors"] for w in windows),
            "errors": sum(w["errors"] for w in windows),
            "rss_first_mb": first,
            "rss_last_mb": last,
            "rss_growth_pct": round(100 * (last - first) / first, 1),
            "p99_ms_min": min(p99s),
            "p99_ms_max": max(p99s),
            "load_average_1m": [w["load_average_1m"] for w in windows],
            "windows": windows,
        }
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "windows"}, indent=2))


if __name__ == "__main__":
    main()
