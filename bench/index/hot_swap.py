"""Hot swap under load: p50/p99 of a real server before, during and after index swaps.

    nice -n 10 .venv/bin/python -m bench.index.hot_swap        # about 1 minute

A copy of the demo catalog (database + current index) goes to a temporary data dir; a real
``lookalike serve`` process serves it; 16 client threads post real clothing photos with the
result cache off. Versions are built first (the builder's CPU must not be billed to the swap),
then CURRENT is flipped every few seconds, one delta segment is appended and one corrupt
version is offered; the server must answer every request.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.load import wait_until_ready
from index import IndexStore, Payload, VectorIndex
from index.versions import INDEX_FILE, MANIFEST_FILE
from lookalike.execution import ExecutionPolicy


@dataclass
class Load:
    """Client threads that search until stopped, recording (time, status, latency s, version)."""

    url: str
    bodies: list[bytes]
    stop: threading.Event = field(default_factory=threading.Event)
    results: list[tuple[float, int, float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, n: int) -> None:
        rng = random.Random(n)
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.stop.is_set():
                body = rng.choice(self.bodies)
                start = time.perf_counter()
                try:
                    r = http.post(
                        "/v1/search", files={"image": ("q.jpg", body, "image/jpeg")}, data={"k": "10"}
                    )
                    version = r.json().get("index_version", "") if r.status_code == 200 else r.text[:200]
                    row = (time.monotonic(), r.status_code, time.perf_counter() - start, version)
                except httpx.HTTPError as exc:
                    row = (time.monotonic(), 0, time.perf_counter() - start, repr(exc))
                with self.lock:
                    self.results.append(row)

    def start(self, clients: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(clients)]
        for t in threads:
            t.start()
        return threads

    def window(self, start: float, end: float) -> dict[str, float]:
        rows = [r for r in self.results if start <= r[0] < end]
        lat = np.asarray([r[2] * 1000 for r in rows if r[1] == 200])
        return {
            "requests": len(rows),
            "failed": sum(1 for r in rows if r[1] != 200),
            "rps": len(rows) / max(end - start, 1e-9),
            "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        }


def corrupt_copy(store: IndexStore, catalog: str, version: str) -> str:
    """A new version folder whose index bytes no longer match its checksum."""
    cdir = store.catalog_dir(catalog)
    bad = f"v99999999T000000000000Z-{version[-8:]}"
    shutil.copytree(cdir / version, cdir / bad)
    (cdir / bad / MANIFEST_FILE).write_text((cdir / bad / MANIFEST_FILE).read_text().replace(version, bad))
    data = bytearray((cdir / bad / INDEX_FILE).read_bytes())
    data[-16] ^= 0xFF
    (cdir / bad / INDEX_FILE).write_bytes(bytes(data))
    return bad


def copy_catalog(data_dir: Path, catalog: str, target: Path) -> None:
    """The catalog database (SQLite online backup) and the catalog's current index version."""
    target.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(data_dir / "lookalike.db") as src, sqlite3.connect(target / "lookalike.db") as dst:
        src.backup(dst)
    store = IndexStore(data_dir / "indexes")
    version = store.current_version(catalog)
    if version is None:
        raise SystemExit(f"catalog {catalog!r} has no index in {data_dir}: run `make demo-ingest` first")
    shutil.copytree(store.catalog_dir(catalog) / version, target / "indexes" / catalog / version)
    IndexStore(target / "indexes").set_current(catalog, version)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path("var"))
    parser.add_argument("--catalog", default="demo")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--phase-s", type=float, default=15.0, help="Seconds before, during and after swaps.")
    parser.add_argument("--swap-every-s", type=float, default=3.0)
    parser.add_argument(
        "--photos", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/clothing/images"
    )
    parser.add_argument("--out", type=Path, default=Path("var/bench/index/hot-swap.json"))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lookalike-hot-swap-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        copy_catalog(args.data_dir, args.catalog, work)
        store = IndexStore(work / "indexes")
        first = store.current_version(args.catalog)
        assert first is not None
        manifest, current = store.load(args.catalog)
        vectors = current.exact_rows(np.arange(current.count))
        staged = [first]
        for factory in ("PCA128,IVF64,SQ8,Rerank10", "Flat", "HNSW16", "Flat"):
            rebuilt = VectorIndex.build(vectors, current.vector_ids, payload=current.payload, factory=factory)
            staged.append(store.publish(args.catalog, rebuilt, model_spec=manifest.model_spec).version)
        store.set_current(args.catalog, first)
        port = free_port()
        env = ExecutionPolicy().child_env(os.environ) | {
            "LOOKALIKE_DATA_DIR": str(work),
            "LOOKALIKE_CACHE__MAX_BYTES": "0",
            "LOOKALIKE_DETECTOR__SPEC": "none",
            "LOOKALIKE_API__PRELOAD_CATALOGS": json.dumps([args.catalog]),
            "LOOKALIKE_API__DEFAULT_CATALOG": args.catalog,
        }
        log = (work / "server.log").open("wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.main",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(url, 180, alive=lambda: server.poll() is None)
        except (RuntimeError, TimeoutError) as exc:
            raise SystemExit(f"{exc}; see {work / 'server.log'}") from None
        photos = sorted(args.photos.glob("*.jpg"))[:64]
        load = Load(url, [p.read_bytes() for p in photos])
        threads = load.start(args.clients)
        time.sleep(5.0)  # warm-up, not measured
        t0 = time.monotonic()
        time.sleep(args.phase_s)
        t1 = time.monotonic()
        events: list[tuple[float, str]] = []
        schedule = [
            ("swap", staged[1]),
            ("swap", staged[2]),
            ("delta", ""),
            ("corrupt", ""),
            ("swap", staged[3]),
        ]
        schedule.append(("swap", staged[4]))
        for kind, version in schedule[: max(1, int(args.phase_s // args.swap_every_s))]:
            if kind == "delta":
                no_rows = Payload.build([], [], [])
                empty = np.zeros((0, current.dim), dtype=np.float32)
                version = store.append_delta(args.catalog, current.vector_ids[:5], empty, no_rows)
            elif kind == "corrupt":
                version = corrupt_copy(store, args.catalog, str(store.current_version(args.catalog)))
            if kind != "delta":
                store.set_current(args.catalog, version)
            events.append((round(time.monotonic() - t1, 2), f"{kind} {version}"))
            time.sleep(args.swap_every_s)
        if "99999999" in str(store.current_version(args.catalog)):
            store.set_current(args.catalog, staged[-1])  # leave a good version live
        t2 = t1 + args.phase_s
        time.sleep(max(0.0, t2 - time.monotonic()) + args.phase_s)
        t3 = time.monotonic()
        load.stop.set()
        for t in threads:
            t.join(60)
        metrics = httpx.get(f"{url}/metrics").text
        result = {
            "clients": args.clients,
            "before": load.window(t0, t1),
            "during": load.window(t1, t2),
            "after": load.window(t2, t3),
            "events": events,
            "versions_seen": sorted({r[3] for r in load.results if r[1] == 200}),
            "failures": [r for r in load.results if r[1] != 200][:10],
            "metrics": [line for line in metrics.splitlines() if line.startswith("lookalike_index_")],
        }
        result["p99_ratio"] = result["during"]["p99_ms"] / result["before"]["p99_ms"]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        for phase in ("before", "during", "after"):
            w = result[phase]
            print(
                f"{phase:7s} requests {w['requests']:5d} failed {w['failed']} {w['rps']:.1f} req/s "
                f"p50 {w['p50_ms']:.0f} ms p99 {w['p99_ms']:.0f} ms"
            )
        print(f"p99 during / before = {result['p99_ratio']:.2f}; events: {events}")
        print("\n".join(result["metrics"]))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
