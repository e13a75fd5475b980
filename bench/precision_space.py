"""Can a catalog embedded in fp32 be searched with queries embedded in another precision?

    python -m bench.precision_space --benchmark var/benchmarks/grocery --precision bf16 \
        [--embedder SPEC] --out bench/results/precision-space-bf16.json

On a grocery-style benchmark (catalog.csv + queries.jsonl, whole images), it embeds the catalog in
fp32 and the queries in fp32 and in the other precision, and reports recall@1/10 of fp32 queries,
of the other precision's queries against the fp32 catalog (mixed: what a precision change without
re-ingesting serves), and of both sides in the other precision, with the cosines between each
query's two vectors. bf16 runs in OpenVINO where the CPU has it natively; elsewhere it is emulated
with torch's bf16 autocast (rounding like the hardware's, not OpenVINO's kernels: the record says
which). int8 runs the copy ``lookalike quantize embedder`` made. The embedder is the configured one
(the default, ``product_tuned``, unless ``--embedder`` or ``LOOKALIKE_EMBEDDER__SPEC`` names
another); the record names its vector space.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.paired_recall import flips
from embedder import load_embedder
from embedder.preprocess import to_array
from lookalike.cpu_features import this_cpu
from lookalike.model_runtime import int8_paths
from lookalike.openvino_sessions import OpenVinoSession
from lookalike.settings import Settings, load_settings, with_fields


def read_benchmark(
    folder: Path, limit: int | None
) -> tuple[list[tuple[str, Path]], list[tuple[Path, set[str]]]]:
    with (folder / "catalog.csv").open(newline="", encoding="utf-8") as f:
        catalog = [(row["item_id"], folder / row["image"]) for row in csv.DictReader(f)]
    queries = []
    for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            queries.append((folder / q["image"], set(q["relevant"])))
    return catalog, queries[:limit]


def hits(
    catalog_vectors: np.ndarray, ids: list[str], queries: np.ndarray, relevant: list[set[str]], k: int
) -> np.ndarray:
    """Per query: is a relevant item in the top ``k``?"""
    top = np.argsort(-(queries @ catalog_vectors.T), axis=1)[:, :k]
    return np.array([bool({ids[j] for j in row} & rel) for row, rel in zip(top, relevant, strict=True)])


def other_precision(precision: str, settings: Settings, fp32: Any) -> tuple[Any, str]:
    """A function images -> L2-normed vectors in ``precision``, and how it runs."""
    export_dir = settings.onnx_dir
    onnx_path = fp32.runtime_choice.model
    size = fp32.image_size

    def session_embed(session: OpenVinoSession) -> Any:
        name = session.get_inputs()[0].name

        def embed(images: list[Image.Image]) -> np.ndarray:
            out = np.concatenate(
                [
                    session.run(None, {name: to_array(images[i : i + 16], size)})[0]
                    for i in range(0, len(images), 16)
                ]
            ).reshape(len(images), -1)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

        return embed

    if precision == "int8":
        xml = int8_paths(onnx_path, export_dir)[0]
        if not xml.is_file():
            raise SystemExit(f"no int8 copy of {onnx_path.name}: run lookalike quantize embedder first")
        return session_embed(OpenVinoSession(xml, precision="int8")), "OpenVINO int8 (lookalike quantize)"
    if this_cpu().native_bf16:
        return session_embed(OpenVinoSession(onnx_path, precision="bf16")), "OpenVINO bf16, native"
    import torch

    # the same network as the fp32 side, in eager torch
    torch_model: Any = load_embedder(
        settings.embedder.model_copy(update={"runtime": "torch", "device": "cpu"})
    )

    def emulated(images: list[Image.Image]) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            parts = [
                torch_model.model(torch_model.preprocess(images[i : i + 16]))
                for i in range(0, len(images), 16)
            ]
        out = torch.cat(parts).float().reshape(len(images), -1).numpy()
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return emulated, f"emulated bf16 (torch autocast; {this_cpu().model} has no AVX512_BF16 or AMX)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--precision", choices=["bf16", "int8"], default="bf16")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N queries.")
    parser.add_argument("--embedder", default=None, help="Embedder spec (default: the configured one).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = with_fields(load_settings(), "embedder", spec=args.embedder)
    fp32: Any = load_embedder(
        settings.embedder.model_copy(update={"engine": "onnxruntime", "precision": "fp32", "device": "cpu"}),
        settings.onnx_dir,
    )
    other, how = other_precision(args.precision, settings, fp32)
    catalog, queries = read_benchmark(args.benchmark, args.limit)
    ids = [i for i, _ in catalog]
    catalog_images = [Image.open(p).convert("RGB") for _, p in catalog]
    query_images = [Image.open(p).convert("RGB") for p, _ in queries]
    relevant = [r for _, r in queries]
    cat32, cat_o = fp32.embed_images(catalog_images), other(catalog_images)
    q32, q_o = fp32.embed_images(query_images), other(query_images)
    cos = (q32 * q_o).sum(1)
    report: dict[str, Any] = {
        "command": "python -m bench.precision_space " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": this_cpu().summary(),
        "embedder": fp32.spec,
        "precision": args.precision,
        "runs_as": how,
        "queries": len(queries),
        "catalog": len(catalog),
        "query_cosine_to_fp32": {
            "min": round(float(cos.min()), 5),
            "median": round(float(np.median(cos)), 5),
        },
    }
    for k in (1, 10):
        ref, mixed, both = (
            hits(c, ids, q, relevant, k) for c, q in ((cat32, q32), (cat32, q_o), (cat_o, q_o))
        )
        report[f"recall@{k}"] = {
            "fp32": round(float(ref.mean()), 4),
            f"{args.precision} queries, fp32 catalog": round(float(mixed.mean()), 4),
            f"{args.precision} both": round(float(both.mean()), 4),
        }
        report[f"flips@{k}"] = {
            f"{args.precision} queries, fp32 catalog": flips(ref, mixed),
            f"{args.precision} both": flips(ref, both),
        }
    print(json.dumps(report, indent=1))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
