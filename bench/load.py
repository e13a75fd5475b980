"""An asyncio HTTP load generator: closed loop at fixed concurrency, open loop at fixed rates.

Only ever targets a server on this machine (loopback); every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np


def wait_until_ready(
    url: str, timeout_s: float, *, poll_s: float = 0.5, alive: Callable[[], bool] | None = None
) -> None:
    """Poll ``url/readyz`` until it answers 200; raise if ``alive()`` turns false or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"the server at {url} exited before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"the server at {url} was not ready within {timeout_s:.0f} s")


@dataclass
class LoadResult:
    mode: str
    level: float  # clients (closed) or requests/s (open)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def row(self) -> dict[str, float]:
        return {
            "level": self.level,
            "ok": self.ok,
            "errors": self.errors,
            "rps": round(self.throughput, 2),
            "p50_ms": round(self.pct(50), 1),
            "p95_ms": round(self.pct(95), 1),
            "p99_ms": round(self.pct(99), 1),
        }


@dataclass(frozen=True)
class Upload:
    """One screenshot as the multipart/form-data body a client uploads (file field ``image``)."""

    body: bytes
    content_type: str

    @classmethod
    def of(cls, jpeg: bytes) -> Upload:
        request = httpx.Request(
            "POST", "http://x/", files={"image": ("q.jpg", jpeg, "image/jpeg")}, data={"k": "10"}
        )
        return cls(request.read(), request.headers["content-type"])


def uploads(payloads: list[bytes]) -> list[Upload]:
    """Encode every body once, before the clock starts, as replay tools (wrk, k6) send prepared
    bodies: re-encoding the same 170 KB per request cost the load generator ~0.9 ms of CPU,
    on the two cores the server under test also needs."""
    return [Upload.of(p) for p in payloads]


async def _one(client: httpx.AsyncClient, url: str, upload: Upload, result: LoadResult) -> None:
    start = time.perf_counter()
    try:
        r = await client.post(url, content=upload.body, headers={"content-type": upload.content_type})
        result.status_counts[r.status_code] = result.status_counts.get(r.status_code, 0) + 1
        if r.status_code == 200:
            result.latencies_ms.append((time.perf_counter() - start) * 1000.0)
        else:
            result.errors += 1
    except httpx.HTTPError:
        result.errors += 1


async def closed_loop(base_url: str, payloads: list[bytes], clients: int, requests: int) -> LoadResult:
    """``clients`` workers each send their next request as soon as the last one answers."""
    result = LoadResult("closed", clients)
    bodies = uploads(payloads)
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker() -> None:
            for i in counter:
                await _one(client, f"{base_url}/v1/search", bodies[i % len(bodies)], result)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        result.wall_s = time.perf_counter() - start
    return result


async def open_loop(base_url: str, payloads: list[bytes], rate: float, duration_s: float) -> LoadResult:
    """Requests arrive at a fixed rate whatever the server does: shows the knee and queueing."""
    result = LoadResult("open", rate)
    bodies = uploads(payloads)
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=256)) as client:
        tasks = []
        start = time.perf_counter()
        n = int(rate * duration_s)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(_one(client, f"{base_url}/v1/search", bodies[i % len(bodies)], result))
            )
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - start
    return result
