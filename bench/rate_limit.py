"""A plan's rate limit across two server processes: how many requests get through in 60 s.

    nice -n 10 .venv/bin/python -m bench.rate_limit --out bench/results/rate_limit.json

Starts two ``lookalike serve`` processes on one data folder with ``tenancy.auth = "keys"``, makes
a tenant whose plan allows ``--rate`` requests/s with a burst of ``--burst``, and hammers both
servers at once with ``--clients`` closed-loop clients (far more than the rate) for ``--seconds``.
A limit that holds lets through ``rate * seconds + burst`` requests in all; two processes that
each kept their own count would let through twice that. Run once with the database keeping the
limit (the fallback) and once with Redis (``--redis``, default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.load import wait_until_ready
from catalog import CatalogStore
from lookalike.execution import ExecutionPolicy
from tenancy import Plan, TenancyStore


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def start_servers(data_dir: Path, port: int, redis_url: str | None) -> list[subprocess.Popen[bytes]]:
    env = ExecutionPolicy().child_env(
        os.environ,
        LOOKALIKE_DATA_DIR=str(data_dir),
        LOOKALIKE_TENANCY__AUTH="keys",
        LOOKALIKE_DETECTOR__SPEC="none",
        LOOKALIKE_JOBS__RUN_IN_SERVER="false",
    )
    if redis_url:
        env["LOOKALIKE_TENANCY__REDIS_URL"] = redis_url
        env["LOOKALIKE_TENANCY__REDIS_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}"
    procs = []
    for p in (port, port + 1):
        log = (data_dir / f"server-{p}.log").open("w")
        cmd = [sys.executable, "-m", "cli.main", "serve", "--port", str(p), "--log-level", "warning"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    for p, proc in zip((port, port + 1), procs, strict=True):
        wait_until_ready(f"http://127.0.0.1:{p}", 300, alive=lambda proc=proc: proc.poll() is None)  # type: ignore[misc]
    return procs


async def hammer(
    urls: list[str], key: str, clients: int, seconds: float, rate: float, burst: int
) -> dict[str, Any]:
    counts: dict[str, dict[int, int]] = {u: {} for u in urls}
    headers = {"Authorization": f"Bearer {key}"}
    first: list[float] = []
    last: list[float] = []
    sends: list[float] = []

    async def client(n: int) -> None:
        url = urls[n % len(urls)]
        async with httpx.AsyncClient(timeout=10) as http:
            while time.monotonic() < deadline:
                sent = time.monotonic()
                sends.append(sent)
                r = await http.get(f"{url}/v1/catalogs", headers=headers)
                if r.status_code == 200:
                    first.append(sent)
                    last.append(time.monotonic())
                counts[url][r.status_code] = counts[url].get(r.status_code, 0) + 1

    deadline = time.monotonic() + seconds
    await asyncio.gather(*(client(n) for n in range(clients)))
    allowed = sum(c.get(200, 0) for c in counts.values())
    return {
        "allowed": allowed,
        "refused_429": sum(c.get(429, 0) for c in counts.values()),
        "other": sum(v for c in counts.values() for s, v in c.items() if s not in (200, 429)),
        "window_s": round(max(last) - min(first), 3) if first else 0.0,
        "longest_gap_s": round(
            max((b - a for a, b in zip(sorted(last), sorted(last)[1:], strict=False)), default=0.0), 3
        ),
        "per_server_allowed": {u: c.get(200, 0) for u, c in counts.items()},
        "ideal_for_these_arrivals": ideal_gcra(sends, rate, burst),
    }


def ideal_gcra(sends: list[float], rate: float, burst: int) -> int:
    """What one perfect limiter would let through of these requests, by their send times: the
    count to hold the servers to when the machine cannot offer load evenly."""
    interval, tolerance = 1.0 / rate, burst / rate
    tat, allowed = 0.0, 0
    for now in sorted(sends):
        start = max(tat, now)
        if start + interval - now <= tolerance:
            tat, allowed = start + interval, allowed + 1
    return allowed


def run(backend: str, redis_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lookalike-rate-") as tmp:
        data_dir = Path(tmp)
        store = CatalogStore(f"sqlite:///{data_dir / 'lookalike.db'}")
        store.migrate()
        tenancy = TenancyStore(store.engine)
        tenancy.put_plan(Plan("bench", rate_per_s=args.rate, burst=args.burst))
        tenancy.create_tenant("bench", plan="bench")
        _, key = tenancy.create_key("bench", ["catalog:read"])
        store.close()
        procs = start_servers(data_dir, args.port, redis_url)
        try:
            urls = [f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 1}"]
            result = asyncio.run(hammer(urls, key, args.clients, args.seconds, args.rate, args.burst))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    expected = args.rate * args.seconds + args.burst
    result.update(
        backend=backend,
        expected=expected,
        ratio=round(result["allowed"] / expected, 4),
        ratio_to_ideal=round(result["allowed"] / max(result["ideal_for_these_arrivals"], 1), 4),
        offered_rps=round((result["allowed"] + result["refused_429"]) / args.seconds, 1),
    )
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=5.0, help="the plan's requests/s")
    ap.add_argument("--burst", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=16, help="closed-loop clients, spread over both servers")
    ap.add_argument("--port", type=int, default=8731)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--backends", default="database,redis")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = [
        run(b, args.redis if b == "redis" else None, args)
        for b in args.backends.split(",")
        if b in ("database", "redis")
    ]
    report = {
        "command": "python -m bench.rate_limit " + " ".join(sys.argv[1:]),
        "cpu": cpu_model(),
        "processes": 2,
        "rate_per_s": args.rate,
        "burst": args.burst,
        "seconds": args.seconds,
        "clients": args.clients,
        "runs": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
