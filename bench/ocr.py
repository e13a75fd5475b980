"""What reading a screenshot's text costs a search: p50 per query of each OCR variant against the
same search with OCR off, in one run, on 1170x2532 product-page screenshots.

    python -m bench.ocr --out bench/results/ocr.json

Builds a small text benchmark (``evaluation.datasets.clothing_text``) in a temporary folder,
ingests it, then searches its product pages through ``SearchService.search_bytes`` (the call
``POST /v1/search`` makes; result cache off) with every variant in turn, round after round, so
machine drift hits all alike. The variants:

- ``off``: pixels only, the baseline;
- ``stock``: RapidOCR's own pipeline (short side 736, orientation model) beside the search,
  serially: what reading would cost without this project's savings;
- ``serial-960``: the default reader (detector at 960 px long side, lines under 10 px skipped,
  no orientation model), after the detector and the embedder;
- ``concurrent-960`` (the default): the same reader in its own thread beside them;
- ``concurrent-640``: a smaller detector input;
- ``auto-photo``: ``auto`` on a text-free photo (only the low-resolution text check runs);
- ``cached``: a second search of the same bytes (the lines come from the read cache).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
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
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

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

        off = service(runtime, ocr="off", cache_entries=0)
        variants: dict[str, Callable[[bytes], object]] = {
            "off": lambda d: off.search_bytes(d, SearchRequest("bench", k=10), **LIMITS),
        }
        stock = stock_reader()

        def stock_then_search(d: bytes) -> None:
            stock(d)
            off.search_bytes(d, SearchRequest("bench", k=10), **LIMITS)

        variants["stock"] = stock_then_search
        for name, kw in {
            "serial-960": {"concurrent": False},
            "concurrent-960": {},
            "concurrent-640": {"detect_long_side": 640},
        }.items():
            svc = service(runtime, ocr="always", cache_entries=0, **kw)
            variants[name] = lambda d, svc=svc: svc.search_bytes(d, SearchRequest("bench", k=10), **LIMITS)
        auto = service(runtime, ocr="auto", cache_entries=0)
        cached = service(runtime, ocr="always", cache_entries=1024)

        for run in variants.values():  # load every model once before timing
            run(pages[0])
        cached.search_bytes(photo, SearchRequest("bench", k=10), **LIMITS)
        for page in pages:
            cached.search_bytes(page, SearchRequest("bench", k=10), **LIMITS)

        times: dict[str, list[float]] = {
            name: [] for name in [*variants, "off-photo", "auto-photo", "cached"]
        }

        def timed(name: str, call: Callable[[], object]) -> None:
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000.0)

        for _ in range(args.rounds):
            for page in pages:
                for name, run in variants.items():
                    timed(name, lambda run=run, page=page: run(page))
                timed(
                    "cached",
                    lambda page=page: cached.search_bytes(page, SearchRequest("bench", k=10), **LIMITS),
                )
            for _ in range(len(pages) // 3 or 1):
                timed("off-photo", lambda: off.search_bytes(photo, SearchRequest("bench", k=10), **LIMITS))
                timed("auto-photo", lambda: auto.search_bytes(photo, SearchRequest("bench", k=10), **LIMITS))

        parts: dict[str, dict[str, float]] = {}
        for side in (960, 640):
            reader = ScreenReader(UnderstandingSettings(detect_long_side=side, cache_entries=0)).reader
            split: dict[str, list[float]] = {}
            for page in pages * args.rounds:
                image = decode_image(page, source="bench", draft_long_side=1024, **LIMITS)
                found: dict[str, float] = {}
                reader.read(image.pixels, found)
                for key, value in found.items():
                    split.setdefault(key, []).append(value)
            parts[f"reader-{side}"] = {k: round(statistics.median(v), 1) for k, v in split.items()}

    p50 = {name: statistics.median(values) for name, values in times.items()}
    rows = {
        name: {
            "p50_ms": round(p50[name], 1),
            "added_ms": round(p50[name] - p50["off-photo" if name == "auto-photo" else "off"], 1),
            "ratio": round(p50[name] / p50["off-photo" if name == "auto-photo" else "off"], 2),
            "n": len(times[name]),
        }
        for name in times
    }
    result = {
        "command": "python -m bench.ocr " + " ".join(argv or []),
        "cpu": cpu_model(),
        "screenshot": (
            "1170x2532 product page (evaluation.synth.product_page), decoded at 585x1266 "
            "(api.decode_long_side 1024); photo: a catalog photo enlarged to 1170x1560"
        ),
        "variants": rows,
        "reader_p50_ms": parts,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
