"""Hot swap under load: a real uvicorn server on a loopback port, 16 client threads, versions
published (and one corrupt version) by another writer meanwhile: no request may fail."""

from __future__ import annotations

import csv
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from api.app import create_app
from bench.index.hot_swap import Load, corrupt_copy
from bench.load import wait_until_ready
from catalog_ingest import ingest_manifest
from embedder import Embedder
from index import IndexStore, Payload, VectorIndex
from lookalike.settings import ApiSettings, CacheSettings, DetectorSettings, Settings
from service.runtime import Runtime
from tests.conftest import CPU_EMBEDDER
from tests.images import clothing_photos

CLIENTS = 16
PHOTOS = 12


@dataclass
class Server:
    url: str
    runtime: Runtime
    photos: list[Path]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("hot-swap")
    settings = Settings(
        data_dir=data_dir,
        embedder=CPU_EMBEDDER,
        detector=DetectorSettings(spec="none"),
        cache=CacheSettings(max_bytes=0),  # every request goes through the index
        api=ApiSettings(default_catalog="shop", preload_catalogs=["shop"]),
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    photos = clothing_photos(PHOTOS)
    manifest = data_dir / "shop.csv"
    with manifest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image", "category"])
        w.writerows([p.stem, str(p), "Shirt"] for p in photos)
    ingest_manifest(runtime.ingest_parts(), manifest, "shop", progress=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings, runtime), log_level="warning", timeout_graceful_shutdown=5)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wait_until_ready(url, 60, poll_s=0.1, alive=thread.is_alive)
    yield Server(url, runtime, photos)
    uv.should_exit = True
    thread.join(10)
    sock.close()


def settle(load: Load, seconds: float, requests: int = 8, timeout_s: float = 120.0) -> None:
    """Let the clients run for ``seconds`` and until ``requests`` sent after this step have answered.

    A swap step must be seen by real requests, however slow a busy machine makes them, so each
    step waits for answers as well as for time (bounded, so a hung server still fails the test).
    """
    begun = time.monotonic()

    def answered_since() -> int:
        with load.lock:
            return sum(1 for end, _, latency, _ in load.results if end - latency >= begun)

    while time.monotonic() - begun < seconds or answered_since() < requests:
        if time.monotonic() - begun > timeout_s:
            return
        time.sleep(0.05)


def test_versions_swap_under_16_clients_with_no_failed_request(server: Server) -> None:
    writer = IndexStore(server.runtime.settings.index_dir)  # another process, as far as the server knows
    base_version = writer.current_version("shop")
    assert base_version is not None
    model_spec = writer.read_manifest("shop", base_version).model_spec
    _, current = writer.load("shop")
    vectors = current.exact_rows(np.arange(current.count))

    def publish(factory: str) -> str:
        rebuilt = VectorIndex.build(vectors, current.vector_ids, payload=current.payload, factory=factory)
        return writer.publish("shop", rebuilt, model_spec=model_spec).version

    load = Load(server.url, [p.read_bytes() for p in server.photos])
    threads = load.start(CLIENTS)
    published: list[str] = []
    try:
        settle(load, 2.0)
        for factory in ("IVF4,Flat", "HNSW8", "Flat"):
            published.append(publish(factory))
            settle(load, 1.2)
        no_rows = Payload.build([], [], [])
        published.append(
            writer.append_delta("shop", current.vector_ids[:1], np.zeros((0, current.dim)), no_rows)
        )
        settle(load, 1.2)
        bad = corrupt_copy(writer, "shop", published[-2])
        writer.set_current("shop", bad)
        settle(load, 1.5)
        writer.set_current("shop", published[-2])  # back to the good one (its segment still applies)
        published.append(publish("Flat"))
        settle(load, 1.5)
    finally:
        load.stop.set()
        for t in threads:
            t.join(30)
    failed = [(s, v) for _, s, _, v in load.results if s != 200]
    assert len(load.results) >= 40, f"only {len(load.results)} requests in the window"
    assert failed == [], failed[:5]
    seen = {v for _, _, _, v in load.results}
    assert not any(v.startswith(bad) for v in seen)  # the corrupt version never answered
    assert len(seen & set(published)) >= 3, (seen, published)
    assert load.results[-1][3] == published[-1]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'lookalike_index_refused_total{catalog="shop"}' in metrics
    assert f'lookalike_index_info{{catalog="shop",version="{published[-1]}"}} 1' in metrics
