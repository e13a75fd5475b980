"""One server configuration under closed-loop load: the A/B harness behind BENCHMARKS.md's
"what moved it" figures.

    python -m bench.closed_loop --levels 1,16 --requests 240 \
        --env LOOKALIKE_BATCHING__ENABLED=true

Starts ``lookalike serve`` (result cache off) with the given environment on top of this one,
runs each level of concurrent clients, and prints throughput, latency percentiles and the
server's CPU use. Run two configurations alternately, twice each: the machine drifts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from bench.load import closed_loop
from bench.queries import make_queries
from bench.serving import Server, proc_cpu_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path("var"))
    ap.add_argument("--manifest", type=Path, default=Path("var/demo/catalog.csv"))
    ap.add_argument("--images-root", type=Path, default=Path("../shared/data/clothing/images"))
    ap.add_argument("--queries", type=int, default=24)
    ap.add_argument("--levels", default="1,16")
    ap.add_argument("--requests", type=int, default=240, help="requests per level")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server (repeatable)")
    ap.add_argument("--port", type=int, default=8790)
    args = ap.parse_args()

    payloads = [q.jpeg for q in make_queries(args.manifest, args.images_root, args.queries)]
    overrides = dict(item.split("=", 1) for item in args.env)
    server = Server(args.data_dir, args.port, cache=False, extra_env=overrides)
    try:
        server.wait_ready()
        asyncio.run(closed_loop(server.url, payloads, 2, 8))  # warm-up
        for clients in [int(c) for c in args.levels.split(",")]:
            cpu0, start = proc_cpu_s(server.proc.pid), time.perf_counter()
            result = asyncio.run(closed_loop(server.url, payloads, clients, args.requests))
            cores = (proc_cpu_s(server.proc.pid) - cpu0) / (time.perf_counter() - start)
            row = result.row() | {
                "server_cpu_cores": round(cores, 2),
                "server_core_ms_per_request": (
                    round(1000.0 * cores / result.throughput, 1) if result.throughput else None
                ),
                "env": overrides,
            }
            print(json.dumps(row), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
