"""The GPU figures of issue 18 in one command, each part measured or skipped with the reason.

    python -m bench.triton.gpu --out bench/results/triton-gpu.json \
        [--grocery-dir ../shared/data/grocery] [--triton-url HOST:8001 --triton-repository DIR] \
        [--api-url http://HOST:8000 --catalog demo]

Parts (a part whose requirement is missing is recorded as ``{"measured": false, "why": ...}``):

- ``tensorrt``: the embedder's ONNX export in ONNX Runtime, TensorRT FP16 against CUDA fp32:
  images/s at batch 32 and, with --grocery-dir, recall@10 of both on the grocery benchmark
  (81 iconic catalog photos, test-split store photos as queries). Goal: FP16 >= 2.5x fp32 at
  equal recall@10 (+-0.005). Needs onnxruntime-gpu with the TensorRT provider.
- ``triton_batching``: 16 closed-loop clients, one crop per request, against the ``embedder``
  of a running Triton (explicit model control) with the repository's dynamic batching and with
  none. Needs --triton-url and --triton-repository.
- ``faiss``: 1M 256-d vectors, exact inner-product search, faiss-gpu against faiss-cpu, QPS at
  batch 1 and 64 and the share of identical top-10. Needs faiss with GPU support (`.[gpu]`).
- ``end_to_end``: the running service (--api-url, models on Triton) at 1/16/64 clients over
  HTTP with screenshots of the catalog. Needs a served catalog.

Every run records the GPU (nvidia-smi), the CPU model and the command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Part = dict[str, Any]


def gpu_name() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip() or "no GPU (nvidia-smi printed nothing)"
    except (OSError, subprocess.TimeoutExpired):
        return "no GPU (nvidia-smi not found)"


def skipped(why: str) -> Part:
    return {"measured": False, "why": why}


def throughput(run: Callable[[], object], items: int, repeats: int = 30) -> float:
    for _ in range(5):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return items / float(np.median(times))


def grocery_recall(embed: Callable[[np.ndarray], np.ndarray], grocery: Path, size: int, limit: int) -> float:
    """recall@10 on the grocery benchmark: iconic images as the catalog, test photos as queries."""
    import csv

    from PIL import Image

    from embedder.preprocess import to_array

    with (grocery / "classes.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    catalog = [(int(r["Class ID (int)"]), grocery / r["Iconic Image Path (str)"].lstrip("/")) for r in rows]
    queries = []
    for line in (grocery / "test.txt").read_text().splitlines()[:limit]:
        path, cls, _ = line.strip().split(", ")
        queries.append((int(cls), grocery / path))

    def vectors(paths: list[Path]) -> np.ndarray:
        out = []
        for i in range(0, len(paths), 32):
            x = to_array([Image.open(p).convert("RGB") for p in paths[i : i + 32]], size)
            v = embed(x)
            out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        return np.concatenate(out)

    cat = vectors([p for _, p in catalog])
    qv = vectors([p for _, p in queries])
    top = np.argsort(-(qv @ cat.T), axis=1)[:, :10]
    labels = np.asarray([c for c, _ in catalog])
    hits = [cls in labels[row] for (cls, _), row in zip(queries, top, strict=True)]
    return float(np.mean(hits))


def part_tensorrt(args: argparse.Namespace) -> Part:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    if "TensorrtExecutionProvider" not in providers or "CUDAExecutionProvider" not in providers:
        return skipped(f"onnxruntime has no CUDA/TensorRT provider here ({providers})")
    from lookalike.settings import Settings
    from triton_repo.exports import embedder_onnx

    settings = Settings()
    model, size = embedder_onnx(settings.embedder, settings.onnx_dir)
    fp32 = ort.InferenceSession(str(model.path), providers=["CUDAExecutionProvider"])
    trt_options = {
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": "/tmp/trt",
    }
    fp16 = ort.InferenceSession(
        str(model.path), providers=[("TensorrtExecutionProvider", trt_options), "CUDAExecutionProvider"]
    )
    batch = np.random.default_rng(0).standard_normal((32, 3, size, size), dtype=np.float32)
    name = model.input_name
    result: Part = {"measured": True, "batch": 32, "model": model.spec}
    result["fp32_images_per_s"] = round(throughput(lambda: fp32.run(None, {name: batch}), 32), 1)
    result["fp16_images_per_s"] = round(throughput(lambda: fp16.run(None, {name: batch}), 32), 1)
    result["speedup"] = round(result["fp16_images_per_s"] / result["fp32_images_per_s"], 2)
    a, b = fp32.run(None, {name: batch})[0], fp16.run(None, {name: batch})[0]
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    result["min_cosine_fp16_vs_fp32"] = round(float(cos.min()), 5)
    if args.grocery_dir and (args.grocery_dir / "classes.csv").is_file():

        def embed_with(session: Any) -> Callable[[np.ndarray], np.ndarray]:
            return lambda x: session.run(None, {name: x})[0].reshape(len(x), -1)

        result["recall@10_fp32"] = round(
            grocery_recall(embed_with(fp32), args.grocery_dir, size, args.queries), 4
        )
        result["recall@10_fp16"] = round(
            grocery_recall(embed_with(fp16), args.grocery_dir, size, args.queries), 4
        )
        result["grocery_queries"] = args.queries
    else:
        result["recall"] = "not measured: --grocery-dir missing"
    return result


def part_triton_batching(args: argparse.Namespace) -> Part:
    if not args.triton_url or not args.triton_repository:
        return skipped("--triton-url and --triton-repository not given")
    import tritonclient.grpc as grpc
    from google.protobuf import json_format

    from bench.triton.sweep import drive, read_config, sample_input

    config = read_config(args.triton_repository, "embedder")
    name, item = sample_input(config)
    output = config.output[0].name
    admin = grpc.InferenceServerClient(args.triton_url)
    rows = {}
    for label in ("dynamic_batching", "no_batching"):
        current = type(config)()
        current.CopyFrom(config)
        if label == "no_batching":
            current.ClearField("dynamic_batching")
        admin.load_model("embedder", config=json_format.MessageToJson(current))
        drive(args.triton_url, "embedder", name, item, output, 2, 1.0)
        lat = drive(args.triton_url, "embedder", name, item, output, 16, args.duration_s)
        rows[label] = {
            "items_per_s": round(len(lat) / args.duration_s, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2),
        }
    admin.load_model("embedder")
    ratio = rows["dynamic_batching"]["items_per_s"] / rows["no_batching"]["items_per_s"]
    return {"measured": True, "clients": 16, **rows, "throughput_ratio": round(ratio, 2)}


def part_faiss(args: argparse.Namespace) -> Part:
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return skipped("faiss has no GPU support here (pip install -e '.[gpu]' on a CUDA machine)")
    rng = np.random.default_rng(0)
    n, d = args.vectors, 256
    centres = rng.standard_normal((2000, d), dtype=np.float32)
    xb = centres[rng.integers(0, 2000, n)] + 0.3 * rng.standard_normal((n, d), dtype=np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq = xb[rng.integers(0, n, 1000)] + 0.05 * rng.standard_normal((1000, d), dtype=np.float32)
    cpu = faiss.IndexFlatIP(d)
    cpu.add(xb)
    gpu = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, cpu)
    out: Part = {"measured": True, "vectors": n, "dim": d, "index": "Flat (exact, inner product)"}
    for batch in (1, 64):
        for label, index in (("cpu", cpu), ("gpu", gpu)):
            queries = xq[: 200 if batch == 1 else 1000]
            start = time.perf_counter()
            for i in range(0, len(queries), batch):
                index.search(queries[i : i + batch], 10)
            out[f"{label}_qps_batch{batch}"] = round(len(queries) / (time.perf_counter() - start), 1)
    _, a = cpu.search(xq[:200], 10)
    _, b = gpu.search(xq[:200], 10)
    out["same_top10_share"] = round(float(np.mean([set(x) == set(y) for x, y in zip(a, b, strict=True)])), 4)
    return out


def part_end_to_end(args: argparse.Namespace) -> Part:
    if not args.api_url:
        return skipped("--api-url not given (a running service with the Triton backends)")
    import random

    from PIL import Image

    from bench.load import closed_loop
    from evaluation.synth.screenshot import compose_screenshot_jpeg

    photos = sorted((args.clothing_dir / "images").glob("*.jpg"))[:200]
    rng = random.Random(18)
    shots = [
        compose_screenshot_jpeg([Image.open(p).convert("RGB") for p in rng.sample(photos, 2)], rng)[0]
        for _ in range(24)
    ]
    rows = {}
    for clients in (1, 16, 64):
        result = asyncio.run(closed_loop(args.api_url, shots, clients, max(48, clients * 4)))
        rows[str(clients)] = result.row()
    return {"measured": True, "clients": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/triton-gpu.json"))
    parser.add_argument("--grocery-dir", type=Path, default=Path("../shared/data/grocery"))
    parser.add_argument("--clothing-dir", type=Path, default=Path("../shared/data/clothing"))
    parser.add_argument("--queries", type=int, default=2485)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--triton-url", default=None)
    parser.add_argument("--triton-repository", type=Path, default=None)
    parser.add_argument("--api-url", default=None)
    parser.add_argument("--duration-s", type=float, default=10.0)
    args = parser.parse_args()

    from bench.regions import cpu_model

    report: Part = {"command": " ".join(["python -m bench.triton.gpu", *sys.argv[1:]]), "gpu": gpu_name()}
    report["cpu"] = cpu_model()
    parts: dict[str, Callable[[argparse.Namespace], Part]] = {
        "tensorrt": part_tensorrt,
        "triton_batching": part_triton_batching,
        "faiss": part_faiss,
        "end_to_end": part_end_to_end,
    }
    for name, part in parts.items():
        try:
            report[name] = part(args)
        except Exception as exc:  # one missing piece must not lose the other figures
            report[name] = skipped(f"failed: {type(exc).__name__}: {exc}")
        print(name, json.dumps(report[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
