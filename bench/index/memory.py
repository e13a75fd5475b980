"""RAM of a served index: publish the builder's choice for the benchmark base, then load it in a
fresh process the way the server does and read that process's memory counters.

    nice -n 10 .venv/bin/python -m bench.index.memory --n 1000000     # after bench.index.run

Reports anonymous memory (the FAISS structure and the payload: what the index holds in RAM)
apart from file-backed pages (the memory-mapped exact vectors the re-rank touched, which the
kernel may drop and re-read at any time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.index.run import filter_payload
from index.builder import plan_index
from index.versions import IndexStore

PROBE = """
import json, sys, time
import numpy as np
from index.registry import IndexRegistry
from index.versions import IndexStore
from index import exact

def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return fields

root, n_queries = sys.argv[1], int(sys.argv[2])
before = status()
start = time.perf_counter()
version, live = IndexRegistry(IndexStore(root), background=False).get("bench")
load_s = time.perf_counter() - start
loaded = status()
rng = np.random.default_rng(1)
rows = rng.choice(live.base.count, n_queries, replace=False)
queries = exact.as_float32(live.base.exact[np.sort(rows)])
start = time.perf_counter()
for i in range(n_queries):
    live.search(queries[i : i + 1], 10)
search_s = time.perf_counter() - start
print(json.dumps({"version": version, "load_s": load_s, "before": before, "loaded": loaded,
                  "after_queries": status(), "queries": n_queries,
                  "ms_per_query": search_s / n_queries * 1000}))
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("var/bench/index"))
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args(argv)
    base = np.load(args.out / f"base-{args.n}.i16.npy", mmap_mode="r")
    payload, _ = filter_payload(args.n, np.load(args.out / f"components-{args.n}.npy"))
    root = args.out / f"store-{args.n}"
    store = IndexStore(root)
    if store.current_version("bench") is None:
        plan = plan_index(*base.shape)
        start = time.perf_counter()
        manifest = store.build_and_publish("bench", base, payload, plan, model_spec="bench")
        print(f"published {manifest.version} ({manifest.factory}) in {time.perf_counter() - start:.0f} s")
    files = {
        p.name: p.stat().st_size / 2**20
        for p in (root / "bench" / str(store.current_version("bench"))).iterdir()
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), str(args.queries)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    result["files_mb"] = files
    anon = result["after_queries"]["RssAnon"] - result["before"]["RssAnon"]
    result["index_anon_mb"] = anon
    print(json.dumps(result, indent=2))
    mapped = result["after_queries"]["RssFile"] - result["before"]["RssFile"]
    print(
        f"index RAM (anonymous, after {args.queries} queries): {anon:.0f} MB; "
        f"file-backed pages mapped: {mapped:.0f} MB; load {result['load_s']:.1f} s"
    )
    (args.out / f"memory-{args.n}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
