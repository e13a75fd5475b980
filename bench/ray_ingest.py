"""Catalog ingest: the local runner against the Ray Data runner, in one run, same photos.

    python -m bench.ray_ingest --clothing-dir ../shared/data/clothing --images 400

Each runner loads the same manifest into a fresh data folder; the figure is images per second
end to end (model loading and, for Ray, starting the local cluster included) and the ratio
Ray / local. The two catalogs are compared: same items, same vector count, every item's vectors
within 1e-4. ``--images 5400`` is the whole 5.4k demo catalog.
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

import numpy as np

from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.settings import DetectorSettings, EmbedderSettings, RaySettings, Settings
from service.jobs import ingest_source
from service.runtime import Runtime

VECTOR_TOLERANCE = 1e-4


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
    vectors, _, owners, _ = runtime.store.region_vectors("bench", runtime.embedder.spec)
    by_item = {str(item): vectors[owners == item] for item in set(owners.tolist())}
    return {
        "runner": runner,
        "images": report.embedded_images,
        "seconds": round(elapsed, 1),
        "images_per_s": round(report.embedded_images / elapsed, 2),
        "vectors": report.indexed_vectors,
        "items": items,
        "by_item": by_item,
    }


def same_vectors(local: dict[str, Any], ray: dict[str, Any]) -> dict[str, Any]:
    """Every item's vectors on both sides, within float tolerance (as tests/test_on_ray.py checks)."""
    if local.keys() != ray.keys():
        return {"same_vectors": False, "max_vector_difference": None}
    worst = 0.0
    for item, vectors in local.items():
        if vectors.shape != ray[item].shape:
            return {"same_vectors": False, "max_vector_difference": None}
        worst = max(worst, float(np.abs(vectors - ray[item]).max(initial=0.0)))
    return {"same_vectors": worst <= VECTOR_TOLERANCE, "max_vector_difference": worst}


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
        print(json.dumps({k: v for k, v in runs[-1].items() if k not in ("items", "by_item")}), flush=True)
    local, ray = runs
    result = {
        "cpu": cpu_model(),
        "images": args.images,
        "local_images_per_s": local["images_per_s"],
        "ray_images_per_s": ray["images_per_s"],
        "ray_vs_local": round(ray["images_per_s"] / local["images_per_s"], 2),
        "same_items": local["items"] == ray["items"],
        "same_vector_count": local["vectors"] == ray["vectors"],
        **same_vectors(local["by_item"], ray["by_item"]),
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
