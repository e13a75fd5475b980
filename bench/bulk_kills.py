"""Exactly once under fire: a 5,000-query bulk search on Ray while searcher workers are killed.

    python -m bench.bulk_kills --clothing-dir ../shared/data/clothing --queries 5000 --kills 3

Loads a catalog of clothing photos, generates a few hundred phone screenshots (1 to 3 held-back
photos each) and writes a query manifest that names them in turn until ``--queries`` rows. A
local bulk search of the first ``--warm-up`` queries times the job (models loaded off the
clock); then `search-batch --runner ray` runs (a local cluster, one searcher actor per CPU) and a
running searcher is SIGKILLed at ``--kills`` random moments: one in each equal slice of 10-60% of
the expected search time, counted from the first searcher call, each only after the searcher
killed before it was replaced (a new searcher process ran a call). For each kill: when it landed,
and the chunks and result rows written by then.

Checks (in ``checks``; the command exits non-zero when one fails): every kill landed before the
job ended with chunks still to write, every killed searcher was replaced, every query has exactly
one row set (none missing, none twice: unique (query_row, region, rank)), no rejects, and each
query's rows equal those of the same screenshot searched earlier in the run (a retried chunk gives
the same answer).
"""

from __future__ import annotations

import argparse
import csv
import gc
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
import pyarrow as pa
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
    """SIGKILLs a running searcher actor at each of ``moments`` (seconds after a searcher first ran
    a call), and records what the job had written when each kill landed.

    A kill waits for its moment, for a searcher running a call, and for the previous kill's
    replacement (a searcher process not seen before it) to have run a call: each kill hits a job
    that recovered from the one before."""

    def __init__(self, parts: Path, moments: list[float], rng: random.Random) -> None:
        self.parts, self.moments, self.rng = parts, sorted(moments), rng
        self.kills: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.started = time.perf_counter()
        self.first_search: float | None = None
        self.progress: list[tuple[float, int]] = []
        """(seconds, chunks written) each time the count changed: how the results arrived."""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> float:
        return round(time.perf_counter() - self.started, 1)

    def _run(self) -> None:
        known: set[int] = set()  # every searcher process seen before the last kill
        checked = 0.0
        while not self.stop.is_set():
            if time.perf_counter() - checked >= 1.0:
                checked = time.perf_counter()
                chunks, _ = written(self.parts)
                if not self.progress or chunks != self.progress[-1][1]:
                    self.progress.append((self.now(), chunks))
            running = searchers()
            if running and self.first_search is None:
                self.first_search = time.perf_counter()
            if self.kills and "replacement_seen_s" not in self.kills[-1]:
                fresh = [pid for pid in running if pid not in known]
                if fresh:
                    self.kills[-1].update(replacement_seen_s=self.now(), replacement_pid=fresh[0])
            elif running and self._due():
                self._kill(running, known)
            time.sleep(0.02)  # an actor shows its name only while it runs a call

    def _due(self) -> bool:
        if not self.moments or self.first_search is None:
            return False
        return time.perf_counter() - self.first_search >= self.moments[0]

    def _kill(self, running: list[int], known: set[int]) -> None:
        pid = self.rng.choice(running)
        chunks, rows = written(self.parts)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        known.update(running)
        _seen.discard(pid)
        self.kills.append(
            {
                "at_s": self.now(),
                "moment_s": round(self.moments.pop(0), 1),
                "pid": pid,
                "chunks_written_before": chunks,
                "rows_written_before": rows,
            }
        )


def written(parts: Path) -> tuple[int, int]:
    """Chunks finished so far and their result rows (from the part files' footers)."""
    chunks = rows = 0
    for path in parts.glob("results-*.parquet") if parts.exists() else []:
        try:
            rows += pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowInvalid):
            continue  # replaced while being read
        chunks += 1
    return chunks, rows


_seen: set[int] = set()
_ever: set[int] = set()


def searchers() -> list[int]:
    """Live searcher actors: Ray names an actor's process after its class only while it runs a
    call ("ray::IDLE" between calls), so a process seen once is remembered until it dies."""
    for process in psutil.process_iter(["cmdline"]):
        if SEARCHER in " ".join(process.info["cmdline"] or []):
            _seen.add(process.pid)
            _ever.add(process.pid)
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
        "missing_queries": queries - len(by_query),
        "every_query_once": len(by_query) == queries and len(keys) == len(set(keys)),
        "duplicate_keys": len(keys) - len(set(keys)),
        "queries_differing_from_same_screenshot": differing,
    }


def warm_up_rate(settings: Settings, work: Path, images: list[str], options: BulkOptions) -> float:
    """Queries per second of a local bulk search of ``images`` (models loaded first, off the clock):
    what the job's length, and so its kill moments, are estimated from."""
    runtime = Runtime(settings)
    first = write_manifest(work / "warm-load.csv", images[:1])
    run_bulk(chunk_source(runtime, first, options), work / "warm-load.parquet")
    timed = write_manifest(work / "warm-up.csv", images)
    started = time.perf_counter()
    run_bulk(chunk_source(runtime, timed, options), work / "warm-up.parquet")
    rate = len(images) / (time.perf_counter() - started)
    del runtime
    gc.collect()
    return rate


def kill_moments(expected_s: float, kills: int, rng: random.Random) -> list[float]:
    """One random moment in each of ``kills`` equal slices of 10-60% of the expected search time:
    spread out, and well before the end (each kill also slows the job while a searcher restarts)."""
    width = 0.5 * expected_s / max(1, kills)
    return [expected_s * 0.1 + width * (n + rng.random()) for n in range(kills)]


def write_manifest(path: Path, images: list[str]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", "image"])
        writer.writerows([f"q{n:05d}", image] for n, image in enumerate(images))
    return path


def checks(result: dict[str, Any], kills: int) -> dict[str, bool]:
    """What the run must show: every kill landed mid-job and was recovered from, every query once."""
    landed = result["kills"]
    return {
        "all_kills_landed": len(landed) == kills,
        "every_kill_before_the_job_ended": all(k["at_s"] < result["elapsed_s"] for k in landed),
        "every_kill_with_chunks_still_to_write": all(
            k["chunks_written_before"] < result["chunks"] for k in landed
        ),
        "every_killed_searcher_replaced": all("replacement_seen_s" in k for k in landed),
        "every_query_once": result["every_query_once"],
        "no_duplicates": result["duplicate_keys"] == 0,
        "no_missing": result["missing_queries"] == 0,
        "no_rejects": result["summary"]["rejected"] == 0,
        "same_rows_for_the_same_screenshot": result["queries_differing_from_same_screenshot"] == 0,
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
        "--warm-up", type=int, default=64, help="queries searched locally first to time the job's kills"
    )
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
    query_file = write_manifest(work / "queries.csv", named)
    options = BulkOptions(catalog="bench", k=10)
    chunks = -(-args.queries // options.chunk_rows)
    warm_qps = warm_up_rate(settings, work, named[: args.warm_up], options)
    expected = args.queries / warm_qps
    rng = random.Random(args.seed)
    out = work / "results.parquet"
    killer = Killer(parts_folder(out, JOB), kill_moments(expected, args.kills, rng), rng)
    runtime = Runtime(settings)
    killer.thread.start()
    summary = run_bulk(chunk_source(runtime, query_file, options, runner="ray"), out, job_id=JOB)
    ended = time.perf_counter()
    killer.stop.set()
    killer.thread.join(10)
    elapsed = ended - killer.started
    searching = ended - (killer.first_search or killer.started)
    found = check(out, args.queries, named)
    result: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "queries": args.queries,
        "distinct_query_images": len(shots),
        "query_kind": "screenshots 1170x2532" if args.screenshots else "clothing photos",
        "detector": settings.detector.spec,
        "chunks": chunks,
        "warm_up": {"queries": min(args.warm_up, args.queries), "local_qps": round(warm_qps, 2)},
        "expected_search_s": round(expected, 1),
        "first_search_s": round((killer.first_search or ended) - killer.started, 1),
        "kills": killer.kills,
        "searcher_processes_seen": len(_ever),
        "chunks_written_by_s": killer.progress,
        "elapsed_s": round(elapsed, 1),
        "queries_per_s": round(args.queries / elapsed, 2),
        "queries_per_s_searching": round(args.queries / searching, 2),
        "summary": {k: v for k, v in summary.as_dict().items() if not k.endswith("_path")},
        **found,
    }
    result["checks"] = checks(result, args.kills)
    result["passed"] = all(result["checks"].values())
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if not result["passed"]:
        raise SystemExit("FAILED: " + ", ".join(k for k, ok in result["checks"].items() if not ok))


if __name__ == "__main__":
    main()
