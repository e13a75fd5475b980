"""A lone request's crops: one wide embedder run against the crops split over two narrow runs at once.

    python -m bench.embed_split --rounds 15 --out bench/results/embed-split.json

A lone request runs the embedder *wide* (one run, every core inside each operator); the other
way to use both cores is to split the crops in two and run both halves at once on the *narrow*
model (one thread per run: ONNX Runtime's one-thread session, OpenVINO's single-thread stream
per core). Which is faster depends on how well the engine spreads one run over the cores. Per
crop count (1-4 crops at the served image size), each round times both back to back; the report
holds the medians and the median of the per-round ratios (wide / split: above 1, splitting wins).
Engine and precision come from the settings, as in the server (``LOOKALIKE_EMBEDDER__ENGINE``,
``LOOKALIKE_EMBEDDER__PRECISION``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from embedder import load_embedder
from lookalike.cpu_features import this_cpu
from lookalike.execution import ExecutionPolicy, usable_cores
from lookalike.settings import Settings


def _runner(settings: Settings, in_flight: int) -> tuple[Any, Callable[[np.ndarray], Any]]:
    """The embedder, and one run of its model as a server with ``in_flight`` requests makes it:
    wide with one, narrow with more (``ExecutionPolicy.model_run``)."""
    policy = ExecutionPolicy(demand=lambda: in_flight)
    embedder: Any = load_embedder(settings.embedder, settings.onnx_dir, execution=policy)
    session = embedder._session
    name = session.get_inputs()[0].name
    return embedder, lambda batch: session.run(None, {name: batch})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--max-crops", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("bench/results/embed-split.json"))
    args = ap.parse_args(argv)

    settings = Settings()
    wide_model, wide = _runner(settings, 1)
    _, narrow = _runner(settings, 2)
    size = int(getattr(wide_model, "image_size", 224))
    pool = ThreadPoolExecutor(2)
    rng = np.random.default_rng(0)
    rows: dict[str, Any] = {}
    for n in range(1, args.max_crops + 1):
        batch = rng.standard_normal((n, 3, size, size)).astype(np.float32)
        half = (n + 1) // 2
        parts = [batch[:half], batch[half:]] if n > 1 else [batch]
        for _ in range(3):  # warm both
            wide(batch)
            list(pool.map(narrow, parts))
        wide_ms, split_ms = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            wide(batch)
            wide_ms.append((time.perf_counter() - start) * 1000.0)
            start = time.perf_counter()
            list(pool.map(narrow, parts))
            split_ms.append((time.perf_counter() - start) * 1000.0)
        rows[str(n)] = {
            "wide_ms": round(statistics.median(wide_ms), 2),
            "split_ms": round(statistics.median(split_ms), 2),
            "wide_over_split": round(
                statistics.median(w / s for w, s in zip(wide_ms, split_ms, strict=True)), 3
            ),
        }
        print(n, "crops", json.dumps(rows[str(n)]), flush=True)
    report = {
        "command": "python -m bench.embed_split " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": this_cpu().summary(),
        "cores": usable_cores(),
        "runtime": f"{wide_model.runtime_choice.engine} {wide_model.runtime_choice.precision}",
        "crops": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
