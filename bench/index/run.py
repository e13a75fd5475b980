"""Index benchmark: recall@10 against exact search, QPS, build time and size, per index type.

    nice -n 10 .venv/bin/python -m bench.index.run --n 100000           # develop (about 6 min)
    nice -n 10 .venv/bin/python -m bench.index.run --n 1000000 --plot   # the catalog-scale run

Vectors: a mixture fitted to the demo catalog's real MobileNetV2 embeddings (``synth.py``),
sampled to n. Queries: held-out mixture samples with noise (cosine 0.9 to their source) and
real catalog embeddings. Results go to ``var/bench/index/results-<n>.json`` (+ a Markdown table).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.index.measure import exact_topk, index_bytes, measure_speed, recall_at
from bench.index.synth import Mixture, load_real_vectors, perturb
from index import exact
from index.builder import build_faiss, plan_index
from index.payload import Column, Payload
from index.vector_index import VectorIndex

K = 10


@dataclass
class Row:
    name: str
    n: int
    description: str
    param: str
    build_s: float
    index_mb: float
    recall_heldout: float
    recall_real: float
    qps_1thread: float
    qps_2threads: float
    qps_batched: float
    extra: dict[str, Any] = field(default_factory=dict)


Sweep = list[dict[str, int]]


def configs(n: int, full: bool) -> list[tuple[str, str, Sweep]]:
    """(name, factory string, search settings to sweep) for this catalog size. Re-ranking is a
    search-time setting, so "no re-rank" rows reuse the same build."""
    nlist = 1024 if n <= 200_000 else 4096
    probes = [32, 64, 128] if nlist == 1024 else [64, 128, 256, 512]
    ivf = [{"nprobe": p} for p in probes]
    hnsw = [{"efSearch": e} for e in (32, 64, 128, 256)]
    no_rerank = [{"nprobe": probes[1], "rerank": 0}, {"nprobe": probes[-1], "rerank": 0}]
    out = [
        ("auto (builder's choice)", "auto", [{}, *ivf, {"nprobe": probes[-1], "rerank": 0}]),
        ("PCA256 IVF-SQ8", f"PCA256,IVF{nlist},SQ8,Rerank10", ivf + no_rerank),
        (
            "PCA256 OPQ32 IVF-PQ32",
            f"PCA256,OPQ32,IVF{nlist},PQ32,Rerank20",
            [*ivf, {"nprobe": probes[1], "rerank": 50}, *no_rerank],
        ),
    ]
    if n <= 200_000:
        out += [
            ("Flat (exact)", "Flat", [{}]),
            ("IVF-Flat (no PCA)", f"IVF{nlist},Flat", ivf),
            ("IVF-SQ8 (no PCA)", f"IVF{nlist},SQ8,Rerank0", ivf),
            ("HNSW32-SQ8 (no PCA)", "HNSW32,SQ8,Rerank0", hnsw),
            ("PCA256 HNSW32-SQ8", "PCA256,HNSW32,SQ8,Rerank10", [*hnsw, {"efSearch": 128, "rerank": 0}]),
        ]
    elif full:
        out.append(("PCA256 HNSW32-SQ8", "PCA256,HNSW32,SQ8,Rerank10", hnsw))
    return out


def filter_payload(
    n: int, components: npt.NDArray[np.int64], seed: int = 11
) -> tuple[Payload, dict[str, Any]]:
    """Item columns for filters: random (uncorrelated) in_stock 50%, pick 5%, brand 0.5%, and a
    category per mixture component (correlated with the vectors), one of 20."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    stock = np.where(u < 0.5, 1, 0).astype(np.int8)
    brand_codes = np.where(rng.random(n) < 0.005, 0, 1 + rng.integers(0, 99, n)).astype(np.int32)
    pick = np.where(rng.random(n) < 0.05, 0, -1).astype(np.int32)
    category = (components % 20).astype(np.int32)
    payload = Payload(
        vector_ids=np.arange(n, dtype=np.int64),
        item=Column(np.arange(n, dtype=np.int32), np.asarray([f"i{i}".encode() for i in range(n)])),
        category=Column(category, np.asarray([f"cat-{c}".encode() for c in range(20)])),
        brand=Column(brand_codes, np.asarray([f"brand-{b}".encode() for b in range(100)])),
        price=rng.uniform(1, 200, n).astype(np.float32),
        in_stock=stock,
        attributes={"pick": Column(pick, np.asarray([b"true"]))},
    )
    from index.filters import SearchFilter

    filters = {
        "in_stock=true (50%)": SearchFilter.of(in_stock=True),
        "attr pick=true (5%)": SearchFilter.of(attributes={"pick": True}),
        "brand (0.5%)": SearchFilter.of(brands=["brand-0"]),
        "category, correlated (5%)": SearchFilter.of(categories=["cat-3"]),
    }
    return payload, filters


def prepare(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Fit the mixture, write the base (int16 exact store) and compute exact ground truth in one pass."""
    real = load_real_vectors(Path(args.data_dir), args.catalog, out / "real.npy")
    start = time.perf_counter()
    mixture = Mixture.fit(real, components=args.components, seed=args.seed)
    fit_s = time.perf_counter() - start
    rng = np.random.default_rng(args.seed + 5)
    held = perturb(mixture.sample_all(args.queries, seed=args.seed + 2), 0.9, seed=args.seed + 3)
    real_q = real[rng.choice(len(real), min(args.queries, len(real)), replace=False)]
    queries = np.ascontiguousarray(np.vstack([held, real_q]), dtype=np.float32)
    base_path = out / f"base-{args.n}.i16.npy"
    comps_path = out / f"components-{args.n}.npy"
    gen_s = 0.0
    if not base_path.is_file():
        start = time.perf_counter()
        tmp = base_path.with_suffix(".tmp.npy")
        target = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int16, shape=(args.n, real.shape[1]))
        comps, lo = [], 0
        for x, c in mixture.sample(args.n, seed=args.seed + 1):
            target[lo : lo + len(x)] = exact.encode(x)
            comps.append(c)
            lo += len(x)
        target.flush()
        del target
        np.save(comps_path, np.concatenate(comps))
        tmp.rename(base_path)
        gen_s = time.perf_counter() - start
    base = np.load(base_path, mmap_mode="r")
    payload, filters = filter_payload(args.n, np.load(comps_path))
    masks = {name: payload.mask(f) for name, f in filters.items()}
    start = time.perf_counter()
    truth_path = out / f"truth-{args.n}-{args.queries}-{args.seed}.npz"
    if truth_path.is_file():
        with np.load(truth_path) as held_truth:
            truth = {name: held_truth[name] for name in held_truth.files}
    else:
        truth = exact_topk(
            (exact.as_float32(base[lo : lo + 65_536]) for lo in range(0, args.n, 65_536)),
            queries,
            K,
            masks,  # type: ignore[arg-type]
        )
        np.savez(truth_path, **truth)  # type: ignore[arg-type]
    gt_s = time.perf_counter() - start
    return {
        "base": base,
        "queries": queries,
        "n_held": len(held),
        "truth": truth,
        "payload": payload,
        "filters": filters,
        "masks": masks,
        "timings": {"mixture_fit_s": fit_s, "generate_s": gen_s, "exact_search_s": gt_s},
        "exact_qps_batched": len(queries) / gt_s,
    }


def evaluate(
    name: str, factory: str, sweep: Sweep, data: dict[str, Any], args: argparse.Namespace
) -> list[Row]:
    base = data["base"]
    n, dim = base.shape
    plan = plan_index(n, dim, factory=factory)
    start = time.perf_counter()
    raw, timings = build_faiss(base, plan)
    build_s = time.perf_counter() - start
    index = VectorIndex(raw, data["payload"], dim, plan, None if plan.exact else base)
    size_mb = index_bytes(index) / 2**20
    queries, n_held, truth = data["queries"], data["n_held"], data["truth"]["all"]
    rows = []
    for setting in sweep:
        index.plan = plan.with_search(
            nprobe=setting.get("nprobe", 0),
            ef_search=setting.get("efSearch", 0),
            rerank=setting.get("rerank"),
        )
        index.apply_search_params()
        found = index.search_rows(queries, K)[1]
        speed = measure_speed(index, queries[:n_held], K, seconds=args.seconds)
        row = Row(
            name,
            n,
            index.plan.description,
            " ".join(f"{k}={v}" for k, v in setting.items())
            or (f"planned: nprobe={index.plan.nprobe}" if index.plan.nlist else "planned"),
            build_s,
            size_mb,
            recall_at(found[:n_held], truth[:n_held]),
            recall_at(found[n_held:], truth[n_held:]),
            speed.qps_1thread,
            speed.qps_2threads,
            speed.qps_batched,
            {"train_s": timings.get("train_s", 0.0), "add_s": timings.get("add_s", 0.0)},
        )
        print(_line(row), flush=True)
        rows.append(row)
    if factory == "auto":
        index.plan = plan
        index.apply_search_params()
        rows += evaluate_filters(index, data, args)
    return rows


def evaluate_filters(index: VectorIndex, data: dict[str, Any], args: argparse.Namespace) -> list[Row]:
    """The served configuration (planned search settings) under each filter: recall@10 against
    exact filtered search."""
    queries, n_held = data["queries"], data["n_held"]
    rows = []
    for fname, mask in data["masks"].items():
        found = index.search_rows(queries, K, mask)[1]
        truth = data["truth"][fname]
        speed = measure_speed(index, queries[:n_held], K, allowed=mask, seconds=args.seconds)
        share = float(mask.mean())
        path = (
            "exact"
            if mask.sum() <= max(index.policy.exact_max_rows, index.policy.exact_max_fraction * len(mask))
            else "ANN+selector"
        )
        row = Row(
            f"filter: {fname}",
            len(mask),
            index.plan.description,
            path,
            0.0,
            0.0,
            recall_at(found[:n_held], truth[:n_held]),
            recall_at(found[n_held:], truth[n_held:]),
            speed.qps_1thread,
            speed.qps_2threads,
            speed.qps_batched,
            {"selectivity": share},
        )
        print(_line(row), flush=True)
        rows.append(row)
    return rows


def _line(r: Row) -> str:
    return (
        f"{r.name:26s} {r.param:20s} recall@10 held-out {r.recall_heldout:.3f} real {r.recall_real:.3f} | "
        f"QPS 1t {r.qps_1thread:7.0f} 2t {r.qps_2threads:7.0f} batch {r.qps_batched:7.0f} | "
        f"build {r.build_s:6.1f}s {r.index_mb:7.1f} MB"
    )


def markdown(rows: list[Row]) -> str:
    head = (
        "| index | params | recall@10 held-out | recall@10 real | QPS 1 thread | QPS 2 threads | QPS batched "
        "| build s | index MB |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(
        f"| {r.name} (`{r.description}`) | {r.param} | {r.recall_heldout:.3f} | {r.recall_real:.3f} | "
        f"{r.qps_1thread:.0f} | {r.qps_2threads:.0f} | {r.qps_batched:.0f} | {r.build_s:.0f} "
        f"| {r.index_mb:.0f} |"
        for r in rows
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500, help="Held-out and real queries, each.")
    parser.add_argument("--components", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=2.0, help="Per QPS measurement.")
    parser.add_argument("--data-dir", default="var", help="Where the demo catalog lives.")
    parser.add_argument("--catalog", default="demo")
    parser.add_argument("--out", default="var/bench/index")
    parser.add_argument("--only", nargs="*", help="Run only configurations whose name contains one of these.")
    parser.add_argument("--full", action="store_true", help="At 1M, also HNSW (slow to build).")
    parser.add_argument("--tag", default="", help="Suffix of the result files (keeps a full run).")
    parser.add_argument("--plot", type=Path, nargs="?", const=Path("docs/index-recall-qps.png"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = prepare(args, out)
    print(
        f"prepared n={args.n}: {json.dumps({k: round(v, 1) for k, v in data['timings'].items()})}", flush=True
    )
    rows: list[Row] = []
    for name, factory, sweep in configs(args.n, args.full):
        if args.only and not any(o.lower() in name.lower() for o in args.only):
            continue
        rows += evaluate(name, factory, sweep, data, args)
        save(args, data, rows, started, out)
    save(args, data, rows, started, out)
    print(markdown(rows))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.plot:
        from bench.index.plot import plot

        files = [out / f"results-{n}.json" for n in (100_000, 1_000_000)]
        focused = {n: out / f"results-{n}-auto.json" for n in (100_000, 1_000_000)}
        plot([f for f in files if f.is_file()], args.plot, {n: f for n, f in focused.items() if f.is_file()})
        print(f"plot -> {args.plot}")


def save(args: argparse.Namespace, data: dict[str, Any], rows: list[Row], started: float, out: Path) -> None:
    """Written after every index type, so an interrupted run keeps what it measured."""
    result = {
        "n": args.n,
        "dim": int(data["base"].shape[1]),
        "queries": {"held_out": data["n_held"], "real": len(data["queries"]) - data["n_held"]},
        "timings": data["timings"],
        "exact_search_qps_batched": data["exact_qps_batched"],
        "total_s": time.perf_counter() - started,
        "rows": [asdict(r) for r in rows],
    }
    name = f"results-{args.n}{'-' + args.tag if args.tag else ''}"
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    (out / f"{name}.md").write_text(markdown(rows) + "\n")


if __name__ == "__main__":
    main()
