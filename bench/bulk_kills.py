"""Exactly once under fire: a 5,000-query bulk search on Ray while searcher workers are killed.

    python -m bench.bulk_kills --clothing-dir ../shared/data/clothing --queries 5000 --kills 3

Loads a catalog of clothing photos, generates a few hundred phone screenshots (1 to 3 held-back
photos each) and writes a query manifest that names them in turn until ``--queries`` rows, then
runs `search-batch --runner ray` (a local cluster, one searcher actor per CPU) and SIGKILLs a
running searcher at ``--kills`` random moments (after a random number of finished chunks each).
Checks: every query has exactly one row set (no query missing, none twice: unique
(query_row, region, rank)), no rejects, and each query's rows equal those of the same screenshot
searched earlier in the run (a retried chunk gives the same answer).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq

from bench.bulk_search import write_screenshots
from bench.ray_ingest import cpu_model
from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.settings import DetectorSettings, RaySettings, Settings
from service.bulk_search import BulkOptions, chunk_source, parts_folder, run_bulk
from service.runtime import Runtime

JOB = "kills"
SEARCHER = "MapBatches(SearchWorker)"


class Killer:
    """SIGKILLs a running searcher actor once each of ``at`` chunk counts has been written."""

    def __init__(self, parts: Path, at: list[int], rng: random.Random) -> None:
        self.parts, self.at, self.rng = parts, sorted(at), rng
        self.kills: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.at and not self.stop.is_set():
            written = len(list(self.parts.glob("results-*"))) if self.parts.exists() else 0
            running = searchers()
            if running and written >= self.at[0]:
                pid = self.rng.choice(running)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                at = round(time.perf_counter() - self.started, 1)
                self.kills.append({"after_chunks": written, "at_s": at, "pid": pid})
                _seen.discard(pid)
                self.at.pop(0)
            time.sleep(0.02)  # an actor shows its name only while it runs a call


_seen: set[int] = set()


def searchers() -> list[int]:
    """Live searcher actors: Ray names an actor's process after its class only while it runs a
    call ("ray::IDLE" between calls), so a process seen once is remembered until it dies."""
    for process in psutil.process_iter(["cmdline"]):
        if SEARCHER in " ".join(process.info["cmdline"] or []):
            _seen.add(process.pid)
    for pid in list(_seen):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                _seen.discard(pid)
        except psutil.Error:
            _seen.discard(pid)
    return sorted(_seen)


def check(out: Path, queries: int, images: list[str]) -> dict[str, Any]:
    """Exactly one row set per query, and the same rows for every query of the same screenshot."""
    table = pq.read_table(out).to_pylist()
    by_query: dict[int, list[tuple[Any, ...]]] = {}
    for r in table:
        by_query.setdefault(r["query_row"], []).append((r["region"], r["rank"], r["item_id"], r["score"]))
    keys = [(r["query_row"], r["region"], r["rank"]) for r in table]
    first_of: dict[str, list[tuple[Any, ...]]] = {}
    differing = 0
    for row, rows in sorted(by_query.items()):
        image = images[row - 2]  # query_row is the CSV line; line 2 is the first query
        expected = first_of.setdefault(image, sorted(rows))
        differing += sorted(rows) != expected
    return {
        "result_rows": len(table),
        "queries_with_results": len(by_query),
        "every_query_once": len(by_query) == queries and len(keys) == len(set(keys)),
        "duplicate_keys": len(keys) - len(set(keys)),
        "queries_differing_from_same_screenshot": differing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, required=True)
    parser.add_argument("--catalog-images", type=int, default=300)
    parser.add_argument(
        "--screenshots", type=int, default=200, help="distinct generated screenshots; 0: held-back photos"
    )
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--detector",
        default=None,
        help="detector spec (default: the settings'); 'none' searches whole images",
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON too")
    args = parser.parse_args()
    clothing = args.clothing_dir.resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-bulk-kills-"))
    settings = Settings(data_dir=work / "data", ray=RaySettings(num_cpus=len(os.sched_getaffinity(0))))
    if args.detector:
        settings = settings.model_copy(update={"detector": DetectorSettings(spec=args.detector)})
    manifest = write_clothing_manifest(clothing, work / "catalog.csv", limit=args.catalog_images)
    images = clothing / "images"
    ingest_manifest(
        Runtime(settings).ingest_parts("bench"), manifest, "bench", images_root=images, progress=False
    )
    with manifest.open(newline="") as f:
        used = {row["image"] for row in csv.DictReader(f)}
    held_back = [p for p in sorted(images.glob("*.jpg")) if p.name not in used][:300]
    shots = (
        write_screenshots(clothing, held_back, args.screenshots, work / "shots")
        if args.screenshots
        else held_back
    )
    named = [str(shots[n % len(shots)]) for n in range(args.queries)]
    query_file = work / "queries.csv"
    with query_file.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", "image"])
        writer.writerows([f"q{n:05d}", image] for n, image in enumerate(named))
    options = BulkOptions(catalog="bench", k=10)
    out = work / "results.parquet"
    chunks = -(-args.queries // options.chunk_rows)
    rng = random.Random(args.seed)
    killer = Killer(parts_folder(out, JOB), rng.sample(range(1, chunks - 5), args.kills), rng)
    runtime = Runtime(settings)
    started = time.perf_counter()
    killer.thread.start()
    summary = run_bulk(chunk_source(runtime, query_file, options, runner="ray"), out, job_id=JOB)
    elapsed = time.perf_counter() - started
    killer.stop.set()
    result: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "queries": args.queries,
        "distinct_query_images": len(shots),
        "query_kind": "screenshots 1170x2532" if args.screenshots else "clothing photos",
        "detector": settings.detector.spec,
        "chunks": chunks,
        "kills": killer.kills,
        "elapsed_s": round(elapsed, 1),
        "queries_per_s": round(args.queries / elapsed, 2),
        "summary": {k: v for k, v in summary.as_dict().items() if not k.endswith("_path")},
        **check(out, args.queries, named),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
