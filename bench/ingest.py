"""Catalog ingest throughput: the ONNX Runtime default against eager torch, same photos, same run.

python -m bench.ingest --images 600 --out bench/results/ingest.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.execution import usable_cores
from lookalike.settings import EmbedderSettings, Settings
from service.runtime import Runtime


def run_once(clothing: Path, n: int, runtime_kind: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_clothing_manifest(clothing, Path(tmp) / "catalog.csv", limit=n)
        settings = Settings(data_dir=Path(tmp) / "data", embedder=EmbedderSettings(runtime=runtime_kind))  # type: ignore[arg-type]
        runtime = Runtime(settings)
        _ = runtime.embedder  # model load is not ingest throughput
        start = time.perf_counter()
        report = ingest_manifest(
            runtime.ingest_parts(), manifest, "bench", images_root=clothing / "images", progress=False
        )
        wall = time.perf_counter() - start
    return {
        "rows": report.rows,
        "embedded": report.embedded_images,
        "wall_s": round(wall, 2),
        "rows_per_s": round(report.rows / wall, 2),
        "embedded_images_per_s": round(report.images_per_s, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clothing-dir", type=Path, default=Path("../shared/data/clothing"))
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--out", type=Path, default=Path("bench/results/ingest.json"))
    args = ap.parse_args()
    torch_run = run_once(args.clothing_dir, args.images, "torch")
    onnx_run = run_once(args.clothing_dir, args.images, "onnx")
    report = {
        "machine": f"{platform.node()} {usable_cores()} cores",
        "baseline_eager_torch": torch_run,
        "default_onnx_runtime": onnx_run,
        "speedup": round(torch_run["wall_s"] / onnx_run["wall_s"], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
