"""Residency at scale: 1,000 catalogs of 2,000 items, a budget holding 100, Zipf popularity.

    nice -n 10 .venv/bin/python -m bench.residency --out bench/results/residency.json

1. Real MobileNetV2 embeddings of ``--photos`` clothing photos (../shared) fit the mixture of
   ``bench.index.synth``; every catalog draws its 2,000 vectors from it (``publish_catalogs``)
   and is published with the planner ingest uses (``plan_index``: Flat at this size).
2. One registry serves every catalog under a budget of ``--resident`` catalogs (bytes: the
   resident size of one, times ``--resident``); a second registry serves one catalog of the
   same size: the single-catalog server. Both are the server's own ``IndexRegistry``.
3. ``--warm`` searches fill the budget, then ``--queries`` searches draw catalogs from a Zipf
   law (exponent ``--zipf``, ranks shuffled); each query runs on the multi-catalog registry and
   on the single one, alternating which goes first. What is timed is what residency changes:
   ``registry.get`` (hit or load) + FAISS search + item ids of the neighbours (the "search"
   stage); models and the metadata query are the same code either way.
4. ``--clients`` threads search one cold catalog at once: it must load once.
5. ``--e2e-queries`` whole searches (real clothing photos: decode, MobileNetV2, index, item rows
   from a real SQLite catalog of every catalog's 2,000 items) on both servers, paired per photo:
   the p50 a client sees from a resident catalog against a single-catalog server.

Reports p50/p95 of resident searches against the single-catalog server (ratio), the cold
load time (the loader's own time, and what the missing search waited), hits, misses,
evictions, and the single-flight count. Files stay in the OS page cache (the machine has the
RAM), so a cold load here is read + verify + prepare, not a disk seek.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, select

from bench.index.synth import Mixture, normalise, perturb
from catalog import CatalogStore
from catalog.models import Catalog, Item
from index import IndexStore, Payload, plan_index
from index.metrics import ResidencyMetrics
from index.registry import IndexRegistry
from index.residency import Residency
from lookalike.settings import EmbedderSettings

MODEL_SPEC = "bench-residency"
SINGLE = "single"


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def real_vectors(photos_dir: Path, n: int, cache: Path) -> np.ndarray:
    """The default embedder's vectors of ``n`` clothing photos, cached as .npy (MobileNetV2's when
    docs/RESIDENCY.md was measured; ``product_tuned`` since it became the default: the same width)."""
    if cache.is_file():
        return np.asarray(np.load(cache), dtype=np.float32)
    from embedder import load_embedder
    from lookalike.imaging import decode_image

    embedder = load_embedder(EmbedderSettings(device="cpu"))
    paths = sorted(photos_dir.glob("*.jpg"))[:n]
    out = []
    for lo in range(0, len(paths), 32):
        images = [decode_image(p.read_bytes(), source=str(p)) for p in paths[lo : lo + 32]]
        out.append(embedder.embed_images([im.pixels for im in images]))
    vectors = normalise(np.concatenate(out))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def catalog_name(n: int) -> str:
    return f"c{n:04d}"


def publish_catalogs(store: IndexStore, mixture: Mixture, catalogs: int, items: int, seed: int) -> float:
    """Every catalog (and the single-catalog server's) published like ingest would; skips done ones.

    Each catalog takes ``items`` rows of one pool drawn from the mixture, each nudged to cosine
    0.97 of its pool row: distinct vectors with the real spectrum, at a fraction of the cost of
    a full-rank draw per catalog (1,000 x 2,000 x 1280^2 multiply-adds)."""
    start = time.perf_counter()
    plan = plan_index(items, mixture.dim)
    pool = mixture.sample_all(min(40_000, 20 * items), seed=seed + 3)
    rng = np.random.default_rng(seed + 4)
    noise_scale = np.float32(np.tan(np.arccos(0.97)) / np.sqrt(mixture.dim))
    names = [SINGLE] + [catalog_name(n) for n in range(catalogs)]
    for name in names:
        if store.current_version(name) is not None:
            continue
        rows = pool[rng.choice(len(pool), items, replace=False)]
        vectors = normalise(rows + noise_scale * rng.standard_normal(rows.shape, dtype=np.float32))
        ids = np.arange(items, dtype=np.int64)
        cats = [f"cat-{i % 12}" for i in range(items)]
        payload = Payload.build(ids, [f"{name}-{i}" for i in range(items)], cats)
        store.build_and_publish(name, vectors, payload, plan, model_spec=MODEL_SPEC)
    return time.perf_counter() - start


def write_items(db_url: str, names: list[str], items: int) -> CatalogStore:
    """The catalogs' item rows in a real catalog database (what every search reads its matches from)."""
    store = CatalogStore(db_url)
    store.migrate()
    known = {c.name for c in store.list_catalogs()}
    for name in names:
        if name in known:
            continue
        store.ensure_catalog(name)
        with store.engine.begin() as conn:
            cid = conn.execute(select(Catalog.id).where(Catalog.name == name)).scalar_one()
            rows = [
                {
                    "catalog_id": cid,
                    "item_id": f"{name}-{i}",
                    "title": f"item {i}",
                    "category": f"cat-{i % 12}",
                }
                for i in range(items)
            ]
            conn.execute(insert(Item), rows)
    return store


def end_to_end(
    args: argparse.Namespace, multi: IndexRegistry, single: IndexRegistry, names: list[str], picks: np.ndarray
) -> dict[str, Any]:
    """The whole search (decode, embed, index, metadata) on both servers, paired per query photo."""
    from detector import load_detector
    from embedder import load_embedder
    from lookalike.settings import DetectorSettings
    from service.search import SearchRequest, SearchService

    db = write_items(f"sqlite:///{(args.work / 'catalog.db').resolve()}", names, args.items)
    embedder = load_embedder(EmbedderSettings(device="cpu"))
    detector_settings = DetectorSettings(spec="none")
    detector = load_detector(detector_settings)
    services = {
        "multi": SearchService(detector, embedder, multi, db, detector_settings),
        "single": SearchService(detector, embedder, single, db, detector_settings),
    }
    photos = sorted((args.shared / "data" / "clothing" / "images").glob("*.jpg"))[args.photos :]
    photos = photos[: max(1, args.e2e_photos)]
    data = [p.read_bytes() for p in photos]
    times: dict[str, list[float]] = {"multi": [], "single": []}
    misses = 0
    for j in range(args.e2e_queries):
        catalog = catalog_name(int(picks[j % len(picks)]))
        if multi.residency.peek(catalog) is None:
            misses += 1
            multi.get(catalog)  # end-to-end compares resident searches; loads are measured above
        order = ("single", "multi") if j % 2 else ("multi", "single")
        for which in order:
            request = SearchRequest(catalog=catalog if which == "multi" else SINGLE, k=10, regions="none")
            start = time.perf_counter()
            services[which].search_bytes(data[j % len(data)], request, max_bytes=1 << 26, max_pixels=1 << 26)
            times[which].append((time.perf_counter() - start) * 1000.0)
    db.close()
    paired = np.asarray(times["multi"]) / np.asarray(times["single"])
    m, s = summary(times["multi"]), summary(times["single"])
    return {
        "queries": args.e2e_queries,
        "photos": len(data),
        "loaded_first": misses,
        "resident_search": m,
        "single_catalog_search": s,
        "p50_ratio": m["p50_ms"] / s["p50_ms"],
        "median_paired_ratio": float(np.median(paired)),
    }


class Recorder(ResidencyMetrics):
    """The server's Prometheus series, plus each load's key and time (for the single-flight check)."""

    def __init__(self, registry: CollectorRegistry, budget: int) -> None:
        super().__init__(registry, budget)
        self.loads: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def loaded(self, key: str, seconds: float) -> None:
        super().loaded(key, seconds)
        with self._lock:
            self.loads.append((key, seconds))


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "p99_ms": pct(ms, 99)}


def timed_search(registry: IndexRegistry, catalog: str, query: np.ndarray, k: int) -> float:
    start = time.perf_counter()
    _, live = registry.get(catalog)
    rows = live.search(query, k)
    live.items_of([n.vector_id for n in rows[0]])
    return (time.perf_counter() - start) * 1000.0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalogs", type=int, default=1000)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--resident", type=int, default=100, help="catalogs the budget holds")
    ap.add_argument("--zipf", type=float, default=1.1, help="popularity exponent (rank r drawn ~ 1/r^s)")
    ap.add_argument("--warm", type=int, default=3000)
    ap.add_argument("--queries", type=int, default=6000)
    ap.add_argument(
        "--k", type=int, default=40, help="neighbours per query (k=10 x the pipeline's 4x oversample)"
    )
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--photos", type=int, default=400, help="photos the vector mixture is fitted to")
    ap.add_argument("--e2e-queries", type=int, default=1500, help="whole-pipeline searches (0: skip)")
    ap.add_argument("--e2e-photos", type=int, default=200, help="query photos (not among --photos)")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--work", type=Path, default=Path("/tmp/lookalike-bench-residency"))
    ap.add_argument("--keep", action="store_true", help="keep the published catalogs for another run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)

    work: Path = args.work
    real = real_vectors(args.shared / "data" / "clothing" / "images", args.photos, work / "real.npy")
    mixture = Mixture.fit(real, components=min(64, len(real) // 8), seed=args.seed)
    store = IndexStore(work / "indexes")
    publish_s = publish_catalogs(store, mixture, args.catalogs, args.items, args.seed)
    print(
        f"published {args.catalogs + 1} catalogs of {args.items} ({mixture.dim}-d) in {publish_s:.0f} s",
        flush=True,
    )

    one = IndexRegistry(IndexStore(store.root), MODEL_SPEC, background=False).get(catalog_name(0))[1].nbytes
    budget = one * args.resident
    telemetry = CollectorRegistry()
    recorder = Recorder(telemetry, budget)
    multi = IndexRegistry(
        IndexStore(store.root), MODEL_SPEC, residency=Residency(budget, load_timeout_s=60, observer=recorder)
    )
    single = IndexRegistry(IndexStore(store.root), MODEL_SPEC)

    rng = np.random.default_rng(args.seed + 1)
    ranks = np.arange(1, args.catalogs + 1, dtype=np.float64)
    popularity = ranks**-args.zipf
    popularity /= popularity.sum()
    by_rank = rng.permutation(args.catalogs)
    total = args.warm + args.queries
    picks = by_rank[rng.choice(args.catalogs, size=total, p=popularity)]
    queries = perturb(mixture.sample_all(total, seed=args.seed + 7), 0.9, seed=args.seed + 8)
    top100_share = float(popularity[: args.resident].sum())

    single.get(SINGLE)
    for i in range(args.warm):
        timed_search(multi, catalog_name(int(picks[i])), queries[i : i + 1], args.k)
        timed_search(single, SINGLE, queries[i : i + 1], args.k)
    warm_loads = len(recorder.loads)

    resident_ms: list[float] = []
    miss_ms: list[float] = []
    single_ms: list[float] = []
    for j, i in enumerate(range(args.warm, total)):
        name, q = catalog_name(int(picks[i])), queries[i : i + 1]
        was_resident = multi.residency.peek(name) is not None
        if j % 2:
            single_ms.append(timed_search(single, SINGLE, q, args.k))
            t = timed_search(multi, name, q, args.k)
        else:
            t = timed_search(multi, name, q, args.k)
            single_ms.append(timed_search(single, SINGLE, q, args.k))
        (resident_ms if was_resident else miss_ms).append(t)
    measured_loads = [s * 1000 for _, s in recorder.loads[warm_loads:]]

    cold = next(
        catalog_name(int(c)) for c in by_rank[::-1] if multi.residency.peek(catalog_name(int(c))) is None
    )
    before = len(recorder.loads)
    barrier = threading.Barrier(args.clients)

    def hammer(_: int) -> float:
        barrier.wait()
        return timed_search(multi, cold, queries[0:1], args.k)

    with ThreadPoolExecutor(args.clients) as pool:
        waits = list(pool.map(hammer, range(args.clients)))
    loads_of_cold = sum(1 for key, _ in recorder.loads[before:] if key == cold)

    e2e = (
        end_to_end(
            args,
            multi,
            single,
            [SINGLE] + [catalog_name(n) for n in range(args.catalogs)],
            picks[args.warm :],
        )
        if args.e2e_queries
        else None
    )

    def sample(name: str) -> float:
        value = telemetry.get_sample_value(name)
        return float(value) if value is not None else float("nan")

    r, s = summary(resident_ms), summary(single_ms)
    result: dict[str, Any] = {
        "command": "python -m bench.residency " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": cpu_model(),
        "catalogs": args.catalogs,
        "items": args.items,
        "dim": mixture.dim,
        "index": plan_index(args.items, mixture.dim).description,
        "resident_bytes_per_catalog": one,
        "budget_bytes": budget,
        "budget_catalogs": args.resident,
        "zipf": args.zipf,
        "share_of_searches_to_top_budget_catalogs": top100_share,
        "publish_s": publish_s,
        "resident_search": r,
        "single_catalog_search": s,
        "resident_p50_ratio": r["p50_ms"] / s["p50_ms"],
        "resident_p95_ratio": r["p95_ms"] / s["p95_ms"],
        "missed_search": summary(miss_ms),
        "hit_rate": len(resident_ms) / max(1, len(resident_ms) + len(miss_ms)),
        "cold_load": summary(measured_loads),
        "cold_load_p95_ms": pct(measured_loads, 95),
        "single_flight": {
            "clients": args.clients,
            "catalog": cold,
            "loads": loads_of_cold,
            "wait": summary(waits),
        },
        "end_to_end": e2e,
        "metrics": {
            name: sample(name)
            for name in (
                "lookalike_index_hits_total",
                "lookalike_index_misses_total",
                "lookalike_index_evictions_total",
                "lookalike_index_resident_catalogs",
                "lookalike_index_resident_bytes",
                "lookalike_index_load_duration_seconds_count",
            )
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    multi.residency.close()
    if not args.keep:
        shutil.rmtree(work / "indexes", ignore_errors=True)
        for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm", "catalog.db.migrate.lock"):
            (work / name).unlink(missing_ok=True)
    return result


if __name__ == "__main__":
    main()
