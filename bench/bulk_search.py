"""Bulk search against a loop of single HTTP searches, in one run, same queries, same catalog.

    python -m bench.bulk_search --clothing-dir ../shared/data/clothing --catalog-images 300 --queries 200

Loads a catalog, starts `lookalike serve` on it and searches every query photo once with
POST /v1/search (one request after the other, as a script would), then runs the same queries as
a bulk search (`lookalike search-batch`, local runner, and with --ray the Ray runner). Figures:
queries per second of each and the ratios to the HTTP loop.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.ray_ingest import cpu_model
from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.settings import RaySettings, Settings
from service.bulk_search import BulkOptions, chunk_source, run_bulk
from service.runtime import Runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_loop(data_dir: Path, queries: list[Path], catalog: str) -> float:
    """Queries per second of one client sending one search after another to `lookalike serve`."""
    port = free_port()
    env = {**os.environ, "LOOKALIKE_DATA_DIR": str(data_dir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level", "warning"], env=env
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=120) as client:
            deadline = time.time() + 300
            while True:
                try:
                    if client.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("the server did not become ready")
                time.sleep(0.5)
            client.post(
                f"{base}/v1/search", data={"catalog": catalog}, files={"image": queries[0].read_bytes()}
            )
            started = time.perf_counter()
            for path in queries:
                response = client.post(
                    f"{base}/v1/search",
                    data={"catalog": catalog, "k": "10"},
                    files={"image": path.read_bytes()},
                )
                response.raise_for_status()
            return len(queries) / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(30)


def bulk(settings: Settings, queries: Path, catalog: str, runner: str, out: Path) -> float:
    started = time.perf_counter()
    runtime = Runtime(settings)
    summary = run_bulk(chunk_source(runtime, queries, BulkOptions(catalog=catalog), runner=runner), out)
    assert summary.searched == summary.queries, summary
    return summary.queries / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, required=True)
    parser.add_argument("--catalog-images", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ray", action="store_true", help="also the Ray runner (a local 2-CPU cluster)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    settings = Settings(data_dir=work / "data", ray=RaySettings(num_cpus=2))
    manifest = write_clothing_manifest(args.clothing_dir, work / "catalog.csv", limit=args.catalog_images)
    images = args.clothing_dir / "images"
    ingest_manifest(
        Runtime(settings).ingest_parts("bench"), manifest, "bench", images_root=images, progress=False
    )
    with manifest.open(newline="") as f:
        used = {row["image"] for row in csv.DictReader(f)}
    queries = [p for p in sorted(images.glob("*.jpg")) if p.name not in used][: args.queries]
    query_file = work / "queries.csv"
    with query_file.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", "image"])
        writer.writerows([p.stem, str(p)] for p in queries)
    result: dict[str, object] = {"cpu": cpu_model(), "queries": len(queries)}
    loop = http_loop(settings.data_dir, queries, "bench")
    local = bulk(settings, query_file, "bench", "local", work / "local.parquet")
    result.update(http_loop_qps=round(loop, 2), bulk_local_qps=round(local, 2))
    result["bulk_local_vs_http"] = round(local / loop, 2)
    if args.ray:
        on_ray = bulk(settings, query_file, "bench", "ray", work / "ray.parquet")
        result.update(bulk_ray_qps=round(on_ray, 2), bulk_ray_vs_http=round(on_ray / loop, 2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
