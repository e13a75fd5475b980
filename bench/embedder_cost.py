"""Embedding cost per crop of several embedder specs, in one run, against the first (the baseline).

    python -m bench.embedder_cost --specs torchvision:mobilenet_v2,product_tuned,product_tuned+colour \\
        --out bench/results/embedder-cost.json

A spec ending in ``+colour`` runs with ``embedder.colour_histogram = true`` (the grocery adapt
recipe's vectors).

Each spec is loaded the way a server loads it (``load_embedder``, the settings' engine and precision,
ONNX export cached under a temporary folder), then the same crops (grocery store photos from the
shared data) are embedded in batches, spec after spec, round after round, so machine drift hits all
alike. Reported: median milliseconds per crop over the rounds (wall and process CPU time) and the
ratio to the first spec. On a shared machine only the ratios mean something.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from bench.ocr import cpu_model
from embedder import load_embedder
from lookalike.settings import EmbedderSettings


def crops(shared: Path, n: int) -> list[Image.Image]:
    lines = (shared / "data" / "grocery" / "test.txt").read_text(encoding="utf-8").splitlines()
    out: list[Image.Image] = []
    for line in lines[:: max(1, len(lines) // n)][:n]:
        with Image.open(shared / "data" / "grocery" / line.split(",")[0].strip()) as img:
            out.append(img.convert("RGB"))
    return out


def settings_for(spec: str, batch: int) -> EmbedderSettings:
    """``SPEC`` or ``SPEC+colour`` (the same network with the HSV colour histograms appended)."""
    colour = spec.endswith("+colour")
    return EmbedderSettings(spec=spec.removesuffix("+colour"), batch_size=batch, colour_histogram=colour)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--specs", default="torchvision:mobilenet_v2,product_tuned")
    parser.add_argument("--crops", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    specs = [s.strip() for s in args.specs.split(",") if s.strip()]
    images = crops(args.shared, args.crops)
    wall: dict[str, list[float]] = {s: [] for s in specs}
    cpu: dict[str, list[float]] = {s: [] for s in specs}
    names: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        embedders = {}
        for spec in specs:
            embedders[spec] = load_embedder(settings_for(spec, args.batch), Path(tmp))
            embedders[spec].embed_images(images[:2])  # warm-up
            names[spec] = embedders[spec].spec
        for _ in range(args.rounds):
            for spec in specs:
                w0, c0 = time.perf_counter(), time.process_time()
                embedders[spec].embed_images(images)
                wall[spec].append((time.perf_counter() - w0) * 1000 / len(images))
                cpu[spec].append((time.process_time() - c0) * 1000 / len(images))
    base = specs[0]
    rows: list[dict[str, Any]] = []
    for spec in specs:
        w, c = statistics.median(wall[spec]), statistics.median(cpu[spec])
        rows.append(
            {
                "spec": spec,
                "vectors": names[spec],
                "wall_ms_per_crop": round(w, 2),
                "cpu_ms_per_crop": round(c, 2),
                "wall_vs_baseline": round(w / statistics.median(wall[base]), 3),
                "cpu_vs_baseline": round(c / statistics.median(cpu[base]), 3),
            }
        )
        print(f"{spec:40s} wall {w:7.2f} ms/crop ({rows[-1]['wall_vs_baseline']:.2f}x)  cpu {c:7.2f} ms/crop")
    result = {
        "command": "python -m bench.embedder_cost " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu_model(),
        "crops": len(images),
        "batch": args.batch,
        "rounds": args.rounds,
        "results": rows,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
