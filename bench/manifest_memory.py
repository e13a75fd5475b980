"""Memory of a catalog ingest over a very long manifest: every process's RSS, sampled.

    python -m bench.manifest_memory --clothing-dir ../shared/data/clothing --rows 1000000 --photos 2000
    python -m bench.manifest_memory --clothing-dir ../shared/data/clothing --rows 200000 --runner ray

Writes a synthetic manifest of ``--rows`` items whose photos cycle through ``--photos`` distinct
clothing photos (every item its own id, title and price; most rows are photos already seen, so
the run is the manifest's bookkeeping, not the models), then runs ``lookalike ingest`` on it in a
child process and samples the resident memory (RSS) of that process and of every process under
it (Ray's head processes and model actors included) twice a second. Figures: the peak RSS of the
largest process and of all together, each process's own peak and its RSS at each tenth of the run
(a streaming ingest holds level; one that keeps rows in memory climbs), whether every process
stayed under 2 GiB, and how many model actors (``IngestWorker``) did work.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.ray_ingest import cpu_model
from catalog_ingest.datasets.clothing import derived_price

SAMPLE_S = 0.5


def write_manifest(path: Path, photos: list[Path], rows: int) -> Path:
    """``rows`` items, the n-th showing ``photos[n % len(photos)]``; streamed to disk."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "image", "title", "brand", "category", "price", "currency"])
        for n in range(rows):
            item = f"sku-{n:08d}"
            photo = photos[n % len(photos)]
            writer.writerow(
                [
                    item,
                    photo.name,
                    f"Item {n}",
                    f"Seller {n % 500}",
                    "Shirt",
                    f"{derived_price(item):.2f}",
                    "EUR",
                ]
            )
    return path


def tree_rss(root: psutil.Process) -> dict[int, tuple[str, int]]:
    """pid -> (name, RSS bytes) of ``root`` and every process under it."""
    out: dict[int, tuple[str, int]] = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            out[process.pid] = (_name(process), int(process.memory_info().rss))
        except psutil.Error:
            continue
    return out


def _name(process: psutil.Process) -> str:
    cmdline = " ".join(process.cmdline())
    if "cli.main" in cmdline:
        return "ingest (driver)"
    if cmdline.startswith("ray::"):
        return cmdline.split(" ")[0]
    return process.name()


def run_ingest(manifest: Path, images: Path, data_dir: Path, runner: str, rows: int) -> dict[str, Any]:
    env = {**os.environ, "LOOKALIKE_DATA_DIR": str(data_dir)}
    if runner == "ray":
        env["LOOKALIKE_RAY__NUM_CPUS"] = str(len(os.sched_getaffinity(0)))
    command = [sys.executable, "-m", "cli.main", "ingest", str(manifest), "--catalog", "memory"]
    command += ["--images-root", str(images), "--no-progress", "--runner", runner]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(child.pid)
    processes: dict[int, Watched] = {}
    total_peak = 0
    timeline: list[tuple[float, dict[int, int]]] = []
    while child.poll() is None:
        sample = tree_rss(root)
        total_peak = max(total_peak, sum(rss for _, rss in sample.values()))
        for pid, (name, rss) in sample.items():
            processes.setdefault(pid, Watched()).saw(name, rss)
        timeline.append((time.perf_counter() - started, {pid: rss for pid, (_, rss) in sample.items()}))
        time.sleep(SAMPLE_S)
    output = child.stdout.read() if child.stdout else ""
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"ingest failed ({child.returncode}):\n{output[-3000:]}")
    tenths = (
        [timeline[min(len(timeline) - 1, len(timeline) * t // 10)] for t in range(1, 11)] if timeline else []
    )
    largest = [max(rss.values(), default=0) for _, rss in tenths]
    by_pid = sorted(processes.items(), key=lambda item: -item[1].peak)
    largest_peak = by_pid[0][1].peak if by_pid else 0
    return {
        "runner": runner,
        "rows": rows,
        "elapsed_s": round(elapsed, 1),
        "rows_per_s": round(rows / elapsed, 1),
        "peak_rss_largest_process_mib": _mib(largest_peak),
        "every_process_under_2_gib": largest_peak < 2 * 1024**3,
        "peak_rss_all_processes_mib": _mib(total_peak),
        "model_actors": sum(any(WORKER in name for name in w.names) for w in processes.values()),
        "largest_process_rss_each_tenth_mib": [_mib(rss) for rss in largest],
        "processes": [  # every process over 100 MiB: its peak and its RSS at each tenth of the run
            {
                "pid": pid,
                "names": sorted(w.names),
                "peak_rss_mib": _mib(w.peak),
                "rss_each_tenth_mib": [_mib(rss[pid]) if pid in rss else None for _, rss in tenths],
            }
            for pid, w in by_pid
            if w.peak > 100 * 1024 * 1024
        ],
        "report": [line for line in output.splitlines() if line.startswith(REPORT_LINES)],
    }


REPORT_LINES = ("catalog '", "  loaded:", "  embedded:", "  index:")
"""The lines of the ingest's report kept in the figures (not the ones naming local paths)."""

WORKER = "IngestWorker"
"""In the title of a Ray model actor's process while it runs a call."""


class Watched:
    """One process of the ingest: the names it showed (Ray retitles actors per call), its peak RSS."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.peak = 0

    def saw(self, name: str, rss: int) -> None:
        self.names.add(name)
        self.peak = max(self.peak, rss)


def _mib(value: int) -> int:
    return round(value / 1024 / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--photos", type=int, default=2000, help="distinct photos the rows cycle through")
    parser.add_argument("--runner", choices=["local", "ray"], default="local")
    parser.add_argument(
        "--work", type=Path, help="folder for the manifest and the catalog (default: a temp one)"
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON too")
    args = parser.parse_args()
    images = args.clothing_dir.resolve() / "images"
    with (args.clothing_dir / "images.csv").open(newline="") as f:
        names = [row["image"] + ".jpg" for row in csv.DictReader(f)]
    photos = [images / n for n in names if (images / n).is_file()][: args.photos]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-manifest-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    manifest = write_manifest(work / f"manifest-{args.rows}.csv", photos, args.rows)
    result: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "photos": len(photos),
        "manifest_mib": round(manifest.stat().st_size / 1024 / 1024, 1),
        "manifest_written_s": round(time.perf_counter() - started, 1),
    }
    result.update(run_ingest(manifest, images, work / f"data-{args.runner}", args.runner, args.rows))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
