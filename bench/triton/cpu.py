"""One client, the same screenshots: in-process models against the Triton paths, in one run.

    python -m bench.triton.cpu --queries 16 --rounds 3 --out bench/results/triton-cpu.json

Measures, per screenshot, what the search does before the index (decode, detect, keep the
regions, crop, embed), three ways, interleaved request by request so machine drift hits all
alike:

- ``in_process``: the default detector and embedder in this process (ONNX Runtime);
- ``triton_pipeline``: one gRPC call to the repository's ``pipeline`` model (bytes in, regions and
  vectors out: everything runs in the server);
- ``triton_backends``: decode, letterbox, NMS and crops here, the detector and the embedder
  networks on the server (``triton+grpc://`` specs), two or more calls.

The server is the real tritonserver from ``.venv-triton`` on this machine (Python backend,
ONNX Runtime on the CPU), started on a repository generated for the run. The goal of issue 18:
``triton_pipeline`` p50 at most 1.3x ``in_process``. Beside wall-clock latency, each path's CPU
time per request is summed over this process and the server's process tree (``/proc``): on a
machine busy with other work, wall time favours whichever side runs in more processes, CPU time
does not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench.regions import cpu_model
from detector import Detector, load_detector, select_regions
from embedder import Embedder, load_embedder
from lookalike.imaging import decode_image
from lookalike.settings import DetectorSettings, EmbedderSettings, Settings
from lookalike.triton_client import TritonEndpoint, TritonModel
from triton_repo import LocalTritonServer, RepositoryOptions, write_repository

ROOT = Path(__file__).resolve().parents[2]


def screenshots(n: int, seed: int, clothing: Path) -> list[bytes]:
    """``n`` seeded phone screenshots of 1-3 held-out clothing photos (JPEG bytes)."""
    from evaluation.synth.screenshot import compose_screenshot_jpeg

    photos = sorted((clothing / "images").glob("*.jpg"))[-400:]
    rng = random.Random(seed)
    shots = []
    for _ in range(n):
        products = [Image.open(p).convert("RGB") for p in rng.sample(photos, rng.randint(1, 3))]
        shots.append(compose_screenshot_jpeg(products, rng)[0])
    return shots


def local_search(detector: Detector, embedder: Embedder) -> Callable[[bytes], int]:
    """Decode, detect, keep, crop, embed: what SearchService does before the index."""
    settings = DetectorSettings()

    def run(data: bytes) -> int:
        image = decode_image(data, draft_long_side=1024)
        regions = select_regions(detector.detect([image])[0], image, settings)
        vectors = embedder.embed_images([image.crop(r.box) for r in regions])
        return len(vectors)

    return run


def pipeline_search(model: TritonModel) -> Callable[[bytes], int]:
    def run(data: bytes) -> int:
        out = model.infer({"IMAGE": np.frombuffer(data, np.uint8)}, ["BOXES", "VECTORS"])
        return len(out["VECTORS"])

    return run


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its descendants so far, from /proc: the
    server's own threads and its Python-backend stub processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--clothing-dir", type=Path, default=ROOT.parent / "shared" / "data" / "clothing")
    parser.add_argument("--triton-venv", type=Path, default=ROOT / ".venv-triton")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    shots = screenshots(args.queries, args.seed, args.clothing_dir)
    with tempfile.TemporaryDirectory(prefix="lookalike-triton-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(data_dir=work / "var")
        repo = write_repository(settings, work / "repo", RepositoryOptions(backend="python", device="cpu"))
        server = LocalTritonServer(repo.root, args.triton_venv, work / "tritonserver.log").start()
        try:
            url = server.grpc_url
            paths: dict[str, Callable[[bytes], int]] = {
                # ONNX Runtime fp32 in both: the served models' engine and precision (the CPU default
                # may be OpenVINO bf16/int8 where the CPU has it, docs/PRECISION.md)
                "in_process": local_search(
                    load_detector(DetectorSettings(engine="onnxruntime", precision="fp32")),
                    load_embedder(EmbedderSettings(device="cpu", engine="onnxruntime", precision="fp32")),
                ),
                "triton_pipeline": pipeline_search(
                    TritonModel(TritonEndpoint.parse(f"triton+grpc://{url}/pipeline"))
                ),
                "triton_backends": local_search(
                    load_detector(DetectorSettings(spec=f"triton+grpc://{url}/detector")),
                    load_embedder(EmbedderSettings(spec=f"triton+grpc://{url}/embedder")),
                ),
            }
            regions = {name: [run(s) for s in shots] for name, run in paths.items()}  # warm-up, and a check
            times: dict[str, list[float]] = {name: [] for name in paths}
            cpu: dict[str, float] = dict.fromkeys(paths, 0.0)
            assert server.process is not None
            server_pid = server.process.pid
            for _ in range(args.rounds):
                for shot in shots:
                    for name, run in paths.items():
                        # CPU time, here and in the server: what a request costs whatever else runs
                        cpu_before = time.process_time() + tree_cpu_s(server_pid)
                        start = time.perf_counter()
                        run(shot)
                        times[name].append((time.perf_counter() - start) * 1000)
                        cpu[name] += time.process_time() + tree_cpu_s(server_pid) - cpu_before
        finally:
            server.stop()

    base = statistics.median(times["in_process"])
    result = {
        "command": "python -m bench.triton.cpu "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k in ("queries", "rounds", "seed")
        ),
        "cpu": cpu_model(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "clients": 1,
        "requests_per_path": len(times["in_process"]),
        "regions_per_query": {name: float(np.mean(r)) for name, r in regions.items()},
        "paths": {
            name: {
                "p50_ms": round(statistics.median(t), 2),
                "p90_ms": round(p(t, 90), 2),
                "ratio_p50_vs_in_process": round(statistics.median(t) / base, 3),
                "cpu_ms_per_request": round(cpu[name] / len(t) * 1000, 1),
                "ratio_cpu_vs_in_process": round(cpu[name] / cpu["in_process"], 3),
            }
            for name, t in times.items()
        },
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
