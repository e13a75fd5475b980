"""Run-time policies that depend on the hardware: batching, search concurrency, FAISS threads,
and OpenMP in processes started after ultralytics was imported."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from detector import Detector
from embedder import Embedder
from index import VectorIndex, threads
from lookalike.batching import InFlight
from lookalike.devices import gpu_present
from lookalike.execution import SMALL_BATCH, ExecutionPolicy, usable_cores
from lookalike.settings import ApiSettings, BatchingSettings, CacheSettings, Settings
from lookalike.types import DecodedImage, Region
from service.runtime import Runtime
from tests.api_fixtures import ShopCatalog, wait_ready

pytest_plugins = ["tests.api_fixtures"]


def _runtime(enabled: bool | str = "auto", search_threads: int = 0, serving: bool = True) -> Runtime:
    settings = Settings(
        batching=BatchingSettings(enabled=enabled),  # type: ignore[arg-type]
        api=ApiSettings(search_threads=search_threads),
    )
    return Runtime(settings, serving=serving)


def test_auto_batches_only_where_a_gpu_runs_the_models() -> None:
    assert _runtime("auto").batching is gpu_present()
    assert _runtime(True).batching is True
    assert _runtime(False).batching is False
    assert _runtime(True, serving=False).batching is False  # eval and the CLI call models directly


def test_with_a_gpu_auto_batches_and_admits_enough_searches_to_fill_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import service.runtime

    monkeypatch.setattr(service.runtime, "gpu_present", lambda: True)
    runtime = _runtime("auto")
    assert runtime.batching is True
    assert runtime.search_threads == 32


def test_batching_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in (("auto", "auto"), ("true", True), ("false", False)):
        monkeypatch.setenv("LOOKALIKE_BATCHING__ENABLED", text)
        assert Settings().batching.enabled == expected


class GatedDetector:
    """The whole image as one region, after waiting at a gate; records how many detect at once."""

    spec = "none"

    def __init__(self) -> None:
        self.open = threading.Event()
        self.inside = 0
        self.most = 0
        self._lock = threading.Lock()

    def detect(self, images: Sequence[DecodedImage]) -> list[list[Region]]:
        with self._lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        self.open.wait(10)
        with self._lock:
            self.inside -= 1
        return [[] for _ in images]


@pytest.mark.parametrize("cores", [1, 2, 3])
def test_with_models_inline_the_server_computes_one_search_more_than_cores_and_queues_the_rest(
    cores: int, api_settings: Settings, shop_catalog: ShopCatalog, embedder: Embedder
) -> None:
    settings = api_settings.model_copy(
        update={"batching": BatchingSettings(enabled=False), "cache": CacheSettings(max_bytes=0)}
    )
    runtime = Runtime(settings, serving=True, cores=cores)
    gate = GatedDetector()
    runtime.__dict__["embedder"] = embedder
    runtime.__dict__["detector"] = gate
    assert isinstance(gate, Detector)
    photo = shop_catalog.photos[0].read_bytes()
    with TestClient(create_app(settings, runtime=runtime)) as client:
        wait_ready(client)

        def search(_: int) -> int:
            response = client.post("/v1/search", files={"image": ("q.jpg", photo, "image/jpeg")})
            return response.status_code

        with ThreadPoolExecutor(cores + 4) as pool:
            answers = pool.map(search, range(cores + 4))
            deadline = time.monotonic() + 10
            while gate.inside < cores + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # time for any further search to (wrongly) start computing
            computing = gate.inside
            gate.open.set()
            statuses = list(answers)
    assert computing == gate.most == cores + 1
    assert statuses == [200] * (cores + 4), "the others waited their turn, none was refused"


def _index(n: int = 3_000, dim: int = 64, execution: ExecutionPolicy | None = None) -> VectorIndex:
    x = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = VectorIndex.build(x, np.arange(n), [f"i{i}" for i in range(n)], ["c"] * n, factory="IVF16,Flat")
    if execution is not None:
        index.execution = execution
    return index


def test_a_lone_search_uses_every_core_and_concurrent_ones_one_each() -> None:
    searches = InFlight()
    index = _index(execution=ExecutionPolicy(cores=2, demand=searches.count))
    queries = np.ascontiguousarray(index.exact_rows(np.arange(SMALL_BATCH)))
    with searches:
        index.search(queries[:3], 5)
        assert threads.team() == 2
    with searches, searches, searches:
        index.search(queries[:3], 5)
        assert threads.team() == 1
        index.search(queries, 5)
        assert threads.team() == 2, "a big batch is worth the team either way"


def test_without_a_known_demand_a_few_queries_keep_one_thread() -> None:
    index = _index(execution=ExecutionPolicy(cores=2))  # a script: nobody says it is alone
    queries = np.ascontiguousarray(index.exact_rows(np.arange(3)))
    index.search(queries, 5)
    assert threads.team() == 1


CHILD = """
import faiss, json, torch
print(json.dumps({"faiss": faiss.omp_get_max_threads(), "torch": torch.get_num_threads()}))
"""

AFTER_ULTRALYTICS = """
import json, os, subprocess, sys
import ultralytics  # sets OMP_NUM_THREADS=1 in os.environ when it is unset
import numpy as np, torch
from embedder import load_embedder
from index import VectorIndex, threads
from lookalike.execution import ExecutionPolicy
from lookalike.settings import EmbedderSettings

policy = ExecutionPolicy()
x = np.random.default_rng(0).standard_normal((500, 32)).astype(np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
index = VectorIndex.build(x, np.arange(500), [str(i) for i in range(500)], ["c"] * 500, factory="IVF4,Flat")
index.execution = policy
index.search(x[:8], 5)
settings = EmbedderSettings(spec="torchvision:mobilenet_v2", runtime="torch", device="cpu")
load_embedder(settings, execution=policy)
child = subprocess.run([sys.executable, "-c", sys.argv[1]], env=policy.child_env(os.environ),
                       capture_output=True, text=True, check=True)
print(json.dumps({"env": os.environ.get("OMP_NUM_THREADS"), "faiss": threads.team(),
                  "torch": torch.get_num_threads(), "child": json.loads(child.stdout)}))
"""


def test_importing_ultralytics_leaves_neither_this_process_nor_its_children_one_openmp_thread() -> None:
    """ultralytics sets OMP_NUM_THREADS=1 for processes started after it is imported (a benchmark's
    server once ran FAISS and torch on one core). The policy sets FAISS's and torch's threads
    explicitly, and hands children an explicit OpenMP team."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", AFTER_ULTRALYTICS, CHILD], env=env, capture_output=True, text=True, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    cores = usable_cores()
    assert seen["env"] == "1", "sanity: the import still sets it"
    assert seen["faiss"] == seen["torch"] == cores
    assert seen["child"] == {"faiss": cores, "torch": cores}
