"""Do the Triton backends answer like the in-process models on the eval benchmarks? One run.

    python -m bench.triton.agreement --benchmark var/benchmarks/grocery --limit 400 \
        --benchmark var/benchmarks/clothing-screenshots --out bench/results/triton-agreement.json

Each benchmark is evaluated twice with ``lookalike eval``'s own runner, catalog ingest included:
once in-process (ONNX Runtime fp32, the served engine and precision) and once with the detector
and embedder on a real tritonserver started on this machine (``.venv-triton``). Reported per
benchmark: the share of queries whose merged top-10 is the same list, recall@1/@10 of both, and
the largest box difference. Issue 18's goal: the same top-10 on the eval benchmarks.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.regions import cpu_model
from evaluation.benchmark import load_benchmark
from evaluation.metrics import recall_at_k
from evaluation.runner import EvalRun, run_benchmark
from lookalike.settings import DetectorSettings, EmbedderSettings, Settings
from triton_repo import LocalTritonServer, RepositoryOptions, write_repository

ROOT = Path(__file__).resolve().parents[2]


def compare(local: EvalRun, remote: EvalRun) -> dict[str, Any]:
    same = 0
    box_diff = 0.0
    for a, b in zip(local.outcomes, remote.outcomes, strict=True):
        same += a.ranking()[:10] == b.ranking()[:10]
        if len(a.regions) == len(b.regions):
            for ra, rb in zip(a.regions, b.regions, strict=True):
                diffs = [abs(x - y) for x, y in zip(ra.box.as_list(), rb.box.as_list(), strict=True)]
                box_diff = max(box_diff, *diffs)
        else:
            box_diff = float("inf")
    n = len(local.outcomes)
    return {
        "queries": n,
        "same_top10_share": round(same / n, 4),
        "max_box_difference_px": round(box_diff, 3),
        "recall@1": {"in_process": recall_at_k(local.outcomes, 1), "triton": recall_at_k(remote.outcomes, 1)},
        "recall@10": {
            "in_process": recall_at_k(local.outcomes, 10),
            "triton": recall_at_k(remote.outcomes, 10),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", type=Path, action="append", required=True)
    parser.add_argument("--limit", type=int, default=None, help="first N queries of each benchmark")
    parser.add_argument("--triton-venv", type=Path, default=ROOT / ".venv-triton")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    report: dict[str, Any] = {"cpu": cpu_model(), "limit": args.limit, "benchmarks": {}}
    with tempfile.TemporaryDirectory(prefix="lookalike-triton-agreement-") as tmp:
        work = Path(tmp)
        repo = write_repository(
            Settings(data_dir=work / "export"),
            work / "repo",
            RepositoryOptions(backend="python", device="cpu"),
        )
        server = LocalTritonServer(repo.root, args.triton_venv, work / "tritonserver.log").start()
        url = server.grpc_url
        try:
            for path in args.benchmark:
                bench = load_benchmark(path)
                local = Settings(
                    data_dir=work / f"{bench.name}-local",
                    detector=DetectorSettings(engine="onnxruntime", precision="fp32"),
                    embedder=EmbedderSettings(device="cpu", engine="onnxruntime", precision="fp32"),
                )
                remote = Settings(
                    data_dir=work / f"{bench.name}-triton",
                    detector=DetectorSettings(spec=f"triton+grpc://{url}/detector"),
                    embedder=EmbedderSettings(spec=f"triton+grpc://{url}/embedder"),
                )
                runs = [run_benchmark(bench, s, limit=args.limit, progress=False) for s in (local, remote)]
                report["benchmarks"][bench.name] = compare(*runs)
                print(bench.name, json.dumps(report["benchmarks"][bench.name]), flush=True)
        finally:
            server.stop()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
