"""Model speed per engine and precision on this CPU, as ratios against ONNX Runtime fp32 measured
in the same run, with how far each variant's outputs move from fp32.

    python -m bench.precision --out bench/results/precision.json     # or: make bench-precision

Variants: ONNX Runtime fp32 (the baseline, what the service ran before), OpenVINO fp32, OpenVINO
bf16 (only where the CPU has AVX512_BF16 or AMX: elsewhere it is reported unmeasured, because
OpenVINO would emulate it), and OpenVINO int8 (where ``lookalike quantize`` left a copy). Inputs
are real: the embedder gets 3 catalog crops at 224 px (a typical request's regions), the detector
a seeded phone screenshot letterboxed to the rectangle the service runs it at, and the square.
Every round runs each variant in turn (so drift hits all alike); a ratio is the median over
rounds of baseline median / variant median. Two threads per run, every variant alone.

Roofline, both ceilings: each variant's model GFLOP/s (FLOPs counted on the torch model at the
same input) against the fp32 GEMM peak and against the GEMM peak of its own precision (bf16,
int8), measured in the same run by OpenVINO (``bench.roofline.gemm_peaks_gflops``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.roofline import detector_gflops, gemm_peaks_gflops, model_gflops
from detector import load_detector
from embedder import load_embedder
from embedder.preprocess import to_array
from lookalike.cpu_features import this_cpu
from lookalike.execution import ExecutionPolicy
from lookalike.model_runtime import int8_paths
from lookalike.onnx_sessions import open_session
from lookalike.openvino_sessions import OpenVinoSession
from lookalike.settings import Settings
from lookalike.splits import clothing_benchmark_targets, read_clothing_labels


def variants(onnx_path: Path, export_dir: Path, threads: int) -> dict[str, Any]:
    """Name -> session (or the reason it is not measured here)."""
    policy = ExecutionPolicy(cores=threads)
    out: dict[str, Any] = {
        "onnxruntime fp32": open_session(onnx_path, threads, policy),
        "openvino fp32": OpenVinoSession(onnx_path, precision="fp32", threads=threads, execution=policy),
    }
    cpu = this_cpu()
    out["openvino bf16"] = (
        OpenVinoSession(onnx_path, precision="bf16", threads=threads, execution=policy)
        if cpu.native_bf16
        else f"unmeasured: {cpu.model} has no AVX512_BF16 or AMX"
    )
    xml, _ = int8_paths(onnx_path, export_dir)
    out["openvino int8"] = (
        OpenVinoSession(xml, precision="int8", threads=threads, execution=policy, metadata_from=onnx_path)
        if xml.is_file()
        else "unmeasured: no int8 copy (lookalike quantize)"
    )
    return out


def timed(run: Callable[[], Any], repeats: int) -> float:
    """Median milliseconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def agreement(kind: str, reference: np.ndarray, out: np.ndarray) -> float:
    """Embedder: the lowest cosine between a crop's fp32 and variant vectors. Detector: the
    cosine between the flattened raw outputs (boxes and class scores of every anchor)."""
    if kind == "embedder":
        a = reference.reshape(len(reference), -1)
        b = out.reshape(len(out), -1)
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        return float(cos.min())
    a, b = reference.ravel(), out.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def measure(
    kind: str,
    sessions: dict[str, Any],
    x: np.ndarray,
    rounds: int,
    repeats: int,
    gflop: float = 0.0,
    peaks: dict[str, Any] | None = None,
) -> dict[str, Any]:
    live = {name: s for name, s in sessions.items() if not isinstance(s, str)}
    feeds = {name: {s.get_inputs()[0].name: x} for name, s in live.items()}
    outputs = {name: np.asarray(s.run(None, feeds[name])[0]) for name, s in live.items()}
    for name, s in live.items():  # warm up
        timed(lambda s=s, name=name: s.run(None, feeds[name]), 5)
    per_round: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(rounds):
        for name, s in live.items():
            per_round[name].append(timed(lambda s=s, name=name: s.run(None, feeds[name]), repeats))
    base = per_round["onnxruntime fp32"]
    rows: dict[str, Any] = {}
    for name, s in sessions.items():
        if isinstance(s, str):
            rows[name] = {"unmeasured": s}
            continue
        ratios = [b / v for b, v in zip(base, per_round[name], strict=True)]
        ms = statistics.median(per_round[name])
        rows[name] = {
            "median_ms": round(ms, 2),
            "speedup_vs_onnxruntime_fp32": round(statistics.median(ratios), 3),
            "cosine_to_fp32": round(agreement(kind, outputs["onnxruntime fp32"], outputs[name]), 5),
        }
        if gflop and peaks:
            achieved = gflop / ms * 1000.0
            own = float(peaks.get(name.split(" ")[1], peaks["fp32"]))
            rows[name] |= {
                "model_gflops": round(achieved, 1),
                "fraction_of_fp32_gemm_peak": round(achieved / float(peaks["fp32"]), 3),
                "fraction_of_own_precision_gemm_peak": round(achieved / own, 3),
            }
    return rows


def embedder_gflops(settings: Settings, crops: int) -> float:
    """FLOPs of the embedder on ``crops`` crops, counted on its torch model."""
    torch_embedder: Any = load_embedder(settings.embedder.model_copy(update={"runtime": "torch"}))
    return crops * model_gflops(torch_embedder.model)


def crops(clothing_dir: Path, n: int = 3) -> list[Image.Image]:
    ids = sorted(set(read_clothing_labels(clothing_dir)) - clothing_benchmark_targets(clothing_dir))
    return [
        Image.open(clothing_dir / "images" / f"{i}.jpg").convert("RGB")
        for i in random.Random(7).sample(ids, n)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clothing-dir", type=Path, default=Path("../shared/data/clothing"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    export_dir = settings.onnx_dir
    fp32_embedder = settings.embedder.model_copy(update={"engine": "onnxruntime", "precision": "fp32"})
    embedder: Any = load_embedder(fp32_embedder, export_dir)
    fp32_detector = settings.detector.model_copy(update={"engine": "onnxruntime", "precision": "fp32"})
    detector: Any = load_detector(fp32_detector, export_dir=export_dir)
    from evaluation.synth.screenshot import compose_screenshot
    from quantize.detector import fit, service_shapes

    shot, _ = compose_screenshot(crops(args.clothing_dir, 2), random.Random(11), size=(585, 1266))
    cases: list[tuple[str, str, Path, np.ndarray, float]] = [
        (
            "embedder",
            "embedder, 3 crops at 224",
            embedder.runtime_choice.model,
            to_array(crops(args.clothing_dir), 224),
            embedder_gflops(settings, 3),
        )
    ]
    for shape, path in service_shapes(detector).items():
        x = fit(np.asarray(shot), shape)[0]
        cases.append(
            ("detector", f"detector at {shape[0]}x{shape[1]}", path, x, detector_gflops(settings, shape))
        )
    peaks = gemm_peaks_gflops(args.threads)
    report: dict[str, Any] = {
        "command": "python -m bench.precision " + " ".join(argv or []),
        "cpu": this_cpu().summary(),
        "threads": args.threads,
        "rounds": args.rounds,
        "repeats": args.repeats,
        "gemm_peaks_gflops": peaks,
        "models": {},
    }
    for kind, label, path, x, gflop in cases:
        report["models"][label] = measure(
            kind, variants(path, export_dir, args.threads), x, args.rounds, args.repeats, gflop, peaks
        )
        print(label, json.dumps(report["models"][label]), flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
