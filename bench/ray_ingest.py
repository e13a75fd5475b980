"""Catalog ingest: the local runner against the Ray Data runner, in one run, same photos.

    python -m bench.ray_ingest --clothing-dir ../shared/data/clothing --images 400

Each runner loads the same manifest into a fresh data folder; the figure is images per second
end to end (model loading and, for Ray, starting the local cluster included) and the ratio
Ray / local. The two catalogs are compared: same items, same vector count.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.settings import DetectorSettings, EmbedderSettings, RaySettings, Settings
from service.jobs import ingest_source
from service.runtime import Runtime


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load(settings: Settings, manifest: Path, images: Path, runner: str) -> dict[str, Any]:
    started = time.perf_counter()
    runtime = Runtime(settings)
    report = ingest_manifest(
        runtime.ingest_parts("bench"),
        manifest,
        "bench",
        images_root=images,
        progress=False,
        source=ingest_source(settings, manifest, runner),
    )
    elapsed = time.perf_counter() - started
    items = sorted(runtime.store.item_records("bench"))
    return {
        "runner": runner,
        "images": report.embedded_images,
        "seconds": round(elapsed, 1),
        "images_per_s": round(report.embedded_images / elapsed, 2),
        "vectors": report.indexed_vectors,
        "items": items,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-ingest-"))
    manifest = write_clothing_manifest(args.clothing_dir, work / "catalog.csv", limit=args.images)
    images = args.clothing_dir / "images"
    runs = []
    for runner in ("local", "ray"):
        settings = Settings(
            data_dir=work / runner,
            embedder=EmbedderSettings(spec="torchvision:mobilenet_v2", device="cpu"),
            detector=DetectorSettings(spec="none"),
            ray=RaySettings(num_cpus=args.cpus),
        )
        runs.append(load(settings, manifest, images, runner))
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "items"}), flush=True)
    local, ray = runs
    result = {
        "cpu": cpu_model(),
        "images": args.images,
        "local_images_per_s": local["images_per_s"],
        "ray_images_per_s": ray["images_per_s"],
        "ray_vs_local": round(ray["images_per_s"] / local["images_per_s"], 2),
        "same_items": local["items"] == ray["items"],
        "same_vector_count": local["vectors"] == ray["vectors"],
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
