"""What reading a screenshot's text costs a search: p50 per query of each OCR variant against the
same search with OCR off, in one run, on 1170x2532 product-page screenshots.

    python -m bench.ocr --out bench/results/ocr.json

Builds a small text benchmark (``evaluation.datasets.clothing_text``) in a temporary folder,
ingests it, then searches its product pages through ``SearchService.search_bytes`` (the call
``POST /v1/search`` makes; result cache off) with every variant in turn, round after round, so
machine drift hits all alike. Wall time and the process's CPU time are both recorded: on a
shared machine wall time swings with the load, CPU time much less. The variants:

- ``off``: pixels only, the baseline;
- ``stock`` (``--stock``): RapidOCR's own pipeline (short side 736, orientation model, every
  line) beside the search, serially: what reading would cost without this project's savings;
- ``always`` (the reader's defaults): text detection at 640 px long side in a thread beside the
  garment detector, then only the lines of the product regions (3 each) and the 2 tallest others
  recognised beside the embedder; OpenVINO bf16 where the CPU has it (``engine``/``precision``
  auto), else ONNX Runtime fp32;
- ``fp32``: the same in ONNX Runtime fp32 (a CPU without bf16);
- ``every-line``: the defaults, but every line recognised;
- ``before``: every line, the detector at 960 px, ONNX Runtime fp32: close to the reader before
  this bench's changes (which also decoded big JPEGs again at full size, and padded lines to 320 px);
- ``serial``: no thread: finding, then recognising, then the models;
- ``one-thread``: the defaults with the OCR models on one thread each (``threads = 1``);
- ``auto``: the low-resolution text check first, then as ``always``;
- ``auto-photo`` / ``off-photo``: ``auto`` on a text-free photo (only the check runs) and its
  baseline;
- ``cached``: a second search of the same bytes (nothing detected or recognised again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalog_ingest import ingest_manifest
from evaluation.datasets.clothing_text import build_clothing_text
from evaluation.datasets.common import default_shared_data
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings, Settings, UnderstandingSettings
from service.runtime import Runtime
from service.search import SearchRequest, SearchService
from understanding import ScreenReader

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}
FP32 = {"engine": "onnxruntime", "precision": "fp32"}
EVERY_LINE = {"lines_per_region": 48, "loose_lines": 48, "max_lines": 48}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def service(runtime: Runtime, **understanding: Any) -> SearchService:
    settings = UnderstandingSettings(**understanding)
    return SearchService(
        runtime.detector,
        runtime.embedder,
        runtime.indexes,
        runtime.store,
        runtime.settings.detector,
        draft_long_side=runtime.settings.api.decode_long_side or None,
        reader=ScreenReader(settings, runtime.execution),
        texts=runtime.store,
        understanding=settings,
    )


def stock_reader() -> Callable[[bytes], None]:
    """RapidOCR as shipped, on the same decoded pixels the search sees."""
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def read(data: bytes) -> None:
        image = decode_image(data, source="bench", draft_long_side=1024, **LIMITS)
        engine(np.asarray(image.pixels)[:, :, ::-1])

    return read


def text_free_photo(path: Path) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    with Image.open(path) as img:
        img.convert("RGB").resize((1170, 1560)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clothing-dir", type=Path, default=default_shared_data() / "clothing")
    parser.add_argument("--pages", type=int, default=12, help="product pages (queries)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stock", action="store_true", help="also time RapidOCR's own pipeline")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        bench = build_clothing_text(
            Path(tmp) / "bench", args.clothing_dir, held_back=args.pages, catalog_size=args.pages * 5
        )
        settings = Settings(data_dir=Path(tmp) / "data", detector=DetectorSettings(spec="garment-yolo"))
        runtime = Runtime(settings)
        report = ingest_manifest(
            runtime.ingest_parts(), bench / "catalog.csv", "bench", images_root=bench, progress=False
        )
        assert report.index_version, report.summary()
        pages = [
            (bench / "images" / "queries" / f"page-{n:04d}.jpg").read_bytes()
            for n in range(1, args.pages + 1)
        ]
        photo = text_free_photo(next((bench / "images" / "catalog").glob("*.jpg")))

        def searcher(svc: SearchService) -> Callable[[bytes], object]:
            return lambda d: svc.search_bytes(d, SearchRequest("bench", k=10), **LIMITS)

        off = searcher(service(runtime, ocr="off", cache_entries=0))
        variants: dict[str, Callable[[bytes], object]] = {"off": off}
        if args.stock:
            stock = stock_reader()

            def stock_then_search(d: bytes) -> None:
                stock(d)
                off(d)

            variants["stock"] = stock_then_search
        for name, kw in {
            "always": {"ocr": "always"},
            "fp32": {"ocr": "always", **FP32},
            "every-line": {"ocr": "always", **EVERY_LINE},
            "before": {"ocr": "always", "detect_long_side": 960, **EVERY_LINE, **FP32},
            "serial": {"ocr": "always", "concurrent": False},
            "one-thread": {"ocr": "always", "threads": 1},
            "auto": {"ocr": "auto"},
        }.items():
            variants[name] = searcher(service(runtime, cache_entries=0, **kw))
        auto = searcher(service(runtime, ocr="auto", cache_entries=0))
        cached = searcher(service(runtime, ocr="always", cache_entries=1024))

        for run in variants.values():  # load every model once before timing
            run(pages[0])
        auto(photo)
        for page in pages:
            cached(page)

        wall: dict[str, list[float]] = {name: [] for name in [*variants, "off-photo", "auto-photo", "cached"]}
        cpu: dict[str, list[float]] = {name: [] for name in wall}
        lines: dict[str, list[float]] = {name: [] for name in wall}

        def timed(name: str, run: Callable[[bytes], object], data: bytes) -> None:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = run(data)
            wall[name].append((time.perf_counter() - start) * 1000.0)
            cpu[name].append((time.process_time() - start_cpu) * 1000.0)
            timings = getattr(result, "timings_ms", None) or {}
            lines[name].append(timings.get("ocr_lines", 0.0))

        for _ in range(args.rounds):
            for page in pages:
                for name, run in variants.items():
                    timed(name, run, page)
                timed("cached", cached, page)
            for _ in range(len(pages) // 3 or 1):
                timed("off-photo", off, photo)
                timed("auto-photo", auto, photo)

        parts: dict[str, dict[str, float]] = {}
        for side in (960, 640, 512):
            reader = ScreenReader(UnderstandingSettings(detect_long_side=side, cache_entries=0)).reader
            split: dict[str, list[float]] = {}
            for page in pages * args.rounds:
                image = decode_image(page, source="bench", draft_long_side=1024, **LIMITS)
                found: dict[str, float] = {}
                reader.read(image.pixels, found)
                for key, value in found.items():
                    split.setdefault(key, []).append(value)
            parts[f"reader-{side}-every-line"] = {k: round(statistics.median(v), 1) for k, v in split.items()}

    def row(name: str) -> dict[str, float]:
        base = "off-photo" if name in ("off-photo", "auto-photo") else "off"
        p50, p50_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
        base_p50, base_cpu = statistics.median(wall[base]), statistics.median(cpu[base])
        return {
            "p50_ms": round(p50, 1),
            "added_ms": round(p50 - base_p50, 1),
            "ratio": round(p50 / base_p50, 2),
            "cpu_p50_ms": round(p50_cpu, 1),
            "cpu_added_ms": round(p50_cpu - base_cpu, 1),
            "lines_recognised": statistics.median(lines[name]),
            "n": len(wall[name]),
        }

    result = {
        "command": "python -m bench.ocr " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1m": {"before": round(load_before[0], 1), "after": round(os.getloadavg()[0], 1)},
        "screenshot": (
            "1170x2532 product page (evaluation.synth.product_page), decoded at 585x1266 "
            "(api.decode_long_side 1024); photo: a catalog photo enlarged to 1170x1560"
        ),
        "variants": {name: row(name) for name in wall},
        "reader_p50_ms": parts,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
