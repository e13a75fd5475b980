"""Bulk search against a loop of single HTTP searches, in one run, same queries, same catalog.

    python -m bench.bulk_search --clothing-dir ../shared/data/clothing --catalog-images 100 --queries 100
    python -m bench.bulk_search --clothing-dir ../shared/data/clothing --catalog-images 300 --screenshots 200

Loads a catalog, starts `lookalike serve` on it and searches every query once with
POST /v1/search (one request after the other, as a script would), then runs the same queries as
a bulk search (`lookalike search-batch`, local runner; with --ray the Ray runner too). Queries are
held-back clothing photos, or with --screenshots generated phone screenshots (1 to 3 held-back
photos each, 1170x2532 JPEG) as shoppers send them.

Model loading is left out of both sides and reported apart: the server answers a warm-up search
of every detector input shape first, and the bulk side loads its models and runs the same warm-up
before the clock starts. The sides alternate (--rounds) so a change in the machine's load hits
both. Figures per side: queries per second and CPU milliseconds per query (server and client
processes for HTTP, the bulk process for bulk); the ratios bulk / HTTP; and whether both sides
found the same top matches for every query region.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow.parquet as pq

from bench.ray_ingest import cpu_model
from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.imaging import decode_image
from lookalike.settings import RaySettings, SafetySettings, Settings
from service.bulk_search import BulkOptions, chunk_source, run_bulk
from service.runtime import Runtime

K = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class HttpLoop:
    """`lookalike serve` in a child process and one client sending one search after another."""

    def __init__(self, data_dir: Path, catalog: str, *, safety: bool = True) -> None:
        self.catalog = catalog
        port = free_port()
        # no result cache: a second round must search again, as the bulk side does
        env = {**os.environ, "LOOKALIKE_DATA_DIR": str(data_dir), "LOOKALIKE_CACHE__MAX_BYTES": "0"}
        if not safety:
            env["LOOKALIKE_SAFETY__RULES"] = "[]"
        self.started = time.perf_counter()
        self.server = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
        )
        self.base = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(timeout=300)

    def wait_ready(self, warm_up: list[Path]) -> float:
        """Seconds until the server answered a search of every warm-up query (its model loading)."""
        deadline = time.time() + 600
        while True:
            try:
                if self.client.get(f"{self.base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or self.server.poll() is not None:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.5)
        for path in warm_up:
            self.search(path)
        return time.perf_counter() - self.started

    def search(self, path: Path) -> dict[str, Any]:
        response = self.client.post(
            f"{self.base}/v1/search",
            data={"catalog": self.catalog, "k": str(K)},
            files={"image": path.read_bytes()},
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def run(self, queries: list[Path]) -> tuple[dict[str, float], dict[str, list[list[str]]]]:
        server = psutil.Process(self.server.pid)
        cpu_before, client_before = cpu_seconds(server), time.process_time()
        started = time.perf_counter()
        found = {path.stem: _http_matches(self.search(path)) for path in queries}
        wall = time.perf_counter() - started
        cpu = cpu_seconds(server) - cpu_before + time.process_time() - client_before
        return _figures(len(queries), wall, cpu), found

    def close(self) -> None:
        self.client.close()
        self.server.terminate()
        self.server.wait(30)


def _http_matches(body: dict[str, Any]) -> list[list[str]]:
    return [[m["item_id"] for m in region["matches"]] for region in body["regions"]]


def _figures(queries: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "qps": round(queries / wall, 2),
        "cpu_ms_per_query": round(1000 * cpu / queries, 1),
        "seconds": round(wall, 1),
    }


class Bulk:
    """Bulk searches in this process, with models loaded before the clock starts."""

    def __init__(self, settings: Settings, catalog: str, work: Path, warm_up: Path) -> None:
        started = time.perf_counter()
        self.runtime = Runtime(settings)
        self.catalog, self.work = catalog, work
        self.runs = 0
        self.run(warm_up, "local")
        self.load_s = time.perf_counter() - started

    def run(self, queries: Path, runner: str) -> tuple[dict[str, float], dict[str, list[list[str]]]]:
        self.runs += 1
        out = self.work / f"bulk-{runner}-{self.runs}.parquet"
        options = BulkOptions(catalog=self.catalog, k=K)
        cpu_before, started = time.process_time(), time.perf_counter()
        summary = run_bulk(chunk_source(self.runtime, queries, options, runner=runner), out)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        assert summary.searched == summary.queries, summary
        return _figures(summary.queries, wall, cpu), _bulk_matches(out)


def _bulk_matches(path: Path) -> dict[str, list[list[str]]]:
    found: dict[str, dict[int, list[str]]] = {}
    for row in pq.read_table(path).to_pylist():
        regions = found.setdefault(row["query_id"], {})
        if row["region"] is not None:
            items = regions.setdefault(row["region"], [])
            if row["item_id"] is not None:
                items.append(row["item_id"])
    return {query: [regions[r] for r in sorted(regions)] for query, regions in found.items()}


def write_screenshots(clothing: Path, photos: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` phone screenshots, each showing 1 to 3 of ``photos`` (seeded: the same every run)."""
    from PIL import Image

    from evaluation.synth.screenshot import compose_screenshot_jpeg

    rng = random.Random(19)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        picked = rng.sample(photos, rng.randint(1, 3))
        jpeg, _ = compose_screenshot_jpeg([Image.open(p).convert("RGB") for p in picked], rng)
        path = folder / f"shot-{n:05d}.jpg"
        path.write_bytes(jpeg)
        out.append(path)
    return out


def write_queries(path: Path, queries: list[Path]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", "image"])
        writer.writerows([p.stem, str(p)] for p in queries)
    return path


def one_per_shape(runtime: Runtime, queries: list[Path]) -> list[Path]:
    """A query of each detector input shape: the warm-up that opens every shape's model session."""
    detector = runtime.detector
    shape_of = getattr(detector, "input_shape", None)
    if shape_of is None:
        return queries[:1]
    draft = runtime.settings.api.decode_long_side or None
    seen: dict[object, Path] = {}
    for path in queries:
        image = decode_image(path.read_bytes(), max_bytes=10**9, max_pixels=10**9, draft_long_side=draft)
        seen.setdefault(shape_of(image.width, image.height), path)
    return list(seen.values())


def agreement(http: dict[str, list[list[str]]], bulk: dict[str, list[list[str]]]) -> dict[str, int]:
    """Queries whose every region has the same top matches, in the same order, on both sides."""
    same = sum(http.get(q) == regions for q, regions in bulk.items())
    return {"queries_compared": len(bulk), "queries_identical": same}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, required=True)
    parser.add_argument("--catalog-images", type=int, default=300)
    parser.add_argument("--queries", type=int, default=200, help="held-back clothing photos as queries")
    parser.add_argument("--screenshots", type=int, default=0, help="generated screenshots as queries instead")
    parser.add_argument("--rounds", type=int, default=2, help="HTTP and bulk runs, alternating")
    parser.add_argument(
        "--safety",
        choices=["on", "off"],
        default="on",
        help="the upload safety gate on both sides: on (the default policy, as `lookalike serve` and "
        "a bulk job run it) or off on both",
    )
    parser.add_argument("--ray", action="store_true", help="also the Ray runner (a local 2-CPU cluster)")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON too")
    args = parser.parse_args()
    args.clothing_dir = args.clothing_dir.resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    settings = Settings(data_dir=work / "data", ray=RaySettings(num_cpus=2))
    if args.safety == "off":
        settings = settings.model_copy(update={"safety": SafetySettings(rules=[])})
    manifest = write_clothing_manifest(args.clothing_dir, work / "catalog.csv", limit=args.catalog_images)
    images = args.clothing_dir / "images"
    ingest_manifest(
        Runtime(settings).ingest_parts("bench"), manifest, "bench", images_root=images, progress=False
    )
    with manifest.open(newline="") as f:
        used = {row["image"] for row in csv.DictReader(f)}
    held_back = [p for p in sorted(images.glob("*.jpg")) if p.name not in used]
    if args.screenshots:
        queries = write_screenshots(args.clothing_dir, held_back[:300], args.screenshots, work / "shots")
    else:
        queries = held_back[: args.queries]
    query_file = write_queries(work / "queries.csv", queries)
    probe = Runtime(settings)
    warm = one_per_shape(probe, queries)
    del probe
    warm_file = write_queries(work / "warm-up.csv", warm)

    result: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "queries": len(queries),
        "query_kind": "screenshots 1170x2532" if args.screenshots else "clothing photos",
        "catalog_images": args.catalog_images,
        "warm_up_queries": len(warm),
        "safety_gate": "on both sides (default policy)" if args.safety == "on" else "off on both sides",
    }
    bulk = Bulk(settings, "bench", work, warm_file)
    server = HttpLoop(settings.data_dir, "bench", safety=args.safety == "on")
    rounds: list[dict[str, Any]] = []
    try:
        result["load_s"] = {"http_server": round(server.wait_ready(warm), 1), "bulk": round(bulk.load_s, 1)}
        for _ in range(args.rounds):
            http, http_found = server.run(queries)
            local, bulk_found = bulk.run(query_file, "local")
            rounds.append({"http": http, "bulk": local, **agreement(http_found, bulk_found)})
    finally:
        server.close()
    result["rounds"] = rounds
    http_qps = sum(r["http"]["qps"] for r in rounds) / len(rounds)
    bulk_qps = sum(r["bulk"]["qps"] for r in rounds) / len(rounds)
    http_cpu = sum(r["http"]["cpu_ms_per_query"] for r in rounds) / len(rounds)
    bulk_cpu = sum(r["bulk"]["cpu_ms_per_query"] for r in rounds) / len(rounds)
    result["bulk_vs_http_qps"] = round(bulk_qps / http_qps, 2)
    result["http_vs_bulk_cpu_per_query"] = round(http_cpu / bulk_cpu, 2)
    if args.ray:
        on_ray, _ = bulk.run(query_file, "ray")
        result["ray"] = on_ray
        result["ray_vs_http_qps"] = round(on_ray["qps"] / http_qps, 2)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
