"""On a real local Ray cluster (2 CPUs, started once per session): ingest and bulk search as Ray
Data pipelines, against the local runner's results."""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from catalog_ingest import IngestReport, ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.settings import RaySettings
from service.bulk_search import BulkOptions, chunk_source, run_bulk
from service.runtime import Runtime
from tests.conftest import CPU_EMBEDDER, RuntimeFactory
from tests.images import CLOTHING, CLOTHING_IMAGES, clothing_photos

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow
PHOTOS = 24
QUERIES = 300
RAY = RaySettings(num_cpus=2, batch_rows=8, object_store_mb=256)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A head node on this machine for the module's tests (about 6 s to start)."""
    from on_ray.cluster import connect, shutdown

    connect(RAY)
    try:
        yield
    finally:
        shutdown()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 photos, one photo named again by a second item, a missing file and a bad price."""
    photos = clothing_photos(PHOTOS)
    path = tmp_path_factory.mktemp("ray-manifest") / "shop.csv"
    write_clothing_manifest(CLOTHING, path, item_ids={p.stem for p in photos})
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["twin", photos[0].name, "", "", "", "", "", ""])
        writer.writerow(["ghost", "no-such.jpg", "", "", "", "", "", ""])
        writer.writerow(["cheap", photos[1].name, "", "", "", "-3", "", ""])
    return path


def load(runtime: Runtime, manifest: Path, runner: str) -> IngestReport:
    from service.jobs import ingest_source

    return ingest_manifest(
        runtime.ingest_parts(),
        manifest,
        "shop",
        images_root=CLOTHING_IMAGES,
        progress=False,
        source=ingest_source(runtime.settings, manifest, runner),
    )


def catalog_vectors(runtime: Runtime) -> dict[str, np.ndarray]:
    vectors, _, items, _ = runtime.store.region_vectors("shop", runtime.embedder.spec)
    return {str(item): vectors[items == item] for item in set(items.tolist())}


def test_ray_ingest_loads_the_same_catalog_as_the_local_runner(
    ray_cluster: None, make_runtime: RuntimeFactory, manifest: Path
) -> None:
    # fp32 pinned: the suite hides a host's bf16 from this process only, not from Ray's actors
    fp32 = {"ray": RAY, "embedder": CPU_EMBEDDER.model_copy(update={"precision": "fp32"})}
    local, on_ray = make_runtime(**fp32), make_runtime(**fp32)
    expected, got = load(local, manifest, "local"), load(on_ray, manifest, "ray")
    assert got.loaded_items == expected.loaded_items == PHOTOS + 1
    assert [(r.row, r.reason) for r in got.rejects] == [(r.row, r.reason) for r in expected.rejects]
    assert len(got.rejects) == 2 and got.duplicates == expected.duplicates == 1
    assert got.indexed_vectors == expected.indexed_vectors and got.published
    assert on_ray.store.item_records("shop") == local.store.item_records("shop")
    mine, theirs = catalog_vectors(on_ray), catalog_vectors(local)
    assert mine.keys() == theirs.keys()
    for item, vectors in theirs.items():
        np.testing.assert_allclose(mine[item], vectors, atol=1e-4, err_msg=item)

    again = load(on_ray, manifest, "ray")  # resumable: what is stored is skipped, not embedded again
    assert again.embedded_images == 0 and again.reused_images == PHOTOS
    assert not again.published  # same content, same index version


class SearchWorkers:
    """The searcher actors of this test. Ray titles an actor's process after its class while it
    runs a call ("ray::MapWorker(MapBatches(SearchWorker)).submit") and "ray::IDLE" between
    calls, so a process seen once is remembered until it dies."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def alive(self) -> list[int]:
        import psutil

        for process in psutil.process_iter(["cmdline"]):
            if "MapBatches(SearchWorker)" in " ".join(process.info["cmdline"] or []):
                self.seen.add(process.pid)
        self.seen = {pid for pid in self.seen if _running(pid)}
        return sorted(self.seen)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_ray_bulk_search_keeps_exactly_one_row_set_per_query_when_workers_are_killed(
    ray_cluster: None, make_runtime: RuntimeFactory, manifest: Path, tmp_path: Path
) -> None:
    # One searcher: while it restarts nothing moves, so each kill lands mid-run, and three always fit.
    runtime = make_runtime(ray=RAY.model_copy(update={"workers": 1}))
    load(runtime, manifest, "local")
    photos = clothing_photos(PHOTOS)
    queries = tmp_path / "queries.csv"
    with queries.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["query_id", "image"])
        writer.writerows([f"q{n}", str(photos[n % PHOTOS])] for n in range(QUERIES))
    out = tmp_path / "results.parquet"
    options = BulkOptions(catalog="shop", k=3, chunk_rows=1)
    kills: list[int] = []
    finished = threading.Event()

    def killer() -> None:
        parts = out.parent / f".{out.name}.kill-test.parts"
        while len(kills) < 3 and not finished.is_set():
            written = len(list(parts.glob("results-*"))) if parts.exists() else 0
            workers = searchers.alive()
            if workers and written > (kills[-1] if kills else 0):  # one kill per new part written
                os.kill(workers[0], signal.SIGKILL)
                kills.append(written)
            time.sleep(0.02)  # a searcher is named in the process table only while it runs a call

    searchers = SearchWorkers()
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    summary = run_bulk(chunk_source(runtime, queries, options, runner="ray"), out, job_id="kill-test")
    finished.set()
    thread.join(10)
    # A searcher is found only while it is named mid-call (SearchWorkers), and a restarted one may
    # not be caught before the run ends: up to three kills are tried, at least one must land.
    assert 1 <= len(kills) <= 3, kills
    table = pq.read_table(out).to_pylist()
    assert (summary.queries, summary.searched, summary.rejected) == (QUERIES, QUERIES, 0)
    assert sorted({r["query_id"] for r in table}) == sorted(f"q{n}" for n in range(QUERIES))
    keys = [(r["query_row"], r["region"], r["rank"]) for r in table]
    assert len(keys) == len(set(keys)), "a query's rows were written twice"
    assert all(len([r for r in table if r["query_row"] == row]) == 3 for row in range(2, QUERIES + 2))
    best = {r["query_id"]: r["item_id"] for r in table if r["rank"] == 0}
    assert best == {f"q{n}": photos[n % PHOTOS].stem for n in range(QUERIES)}


def test_a_manifest_reaches_every_actor_of_the_pool_a_chunk_at_a_time(
    ray_cluster: None, tmp_path: Path
) -> None:
    # Ray Data packs a task's output into blocks of up to 128 MiB unless told otherwise: the
    # whole manifest was one block, so one actor did all the work and answered only at the end.
    from on_ray.manifest_source import manifest_datasource, stream_chunks

    class ChunkOwner:  # defined here: Ray ships it by value (the test module is not importable there)
        """Answers which process got a chunk and which rows it held."""

        def __call__(self, batch: dict[str, object]) -> dict[str, list[int]]:
            from on_ray.manifest_source import unpickle_rows

            time.sleep(0.2)  # long enough that one actor cannot take every chunk alone
            rows = unpickle_rows(batch)
            return {"pid": [os.getpid()], "first": [rows[0].number], "rows": [len(rows)]}

    path = tmp_path / "queries.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image"])
        writer.writerows([f"photo-{n}.jpg"] for n in range(42))
    stream_chunks()
    dataset = ray.data.read_datasource(
        manifest_datasource(path, 4, required=("image",)),
        override_num_blocks=1,
        ray_remote_args={"num_cpus": 0},  # as in the runners: both CPUs go to the actors
    ).map_batches(
        ChunkOwner,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=1,
    )
    got = [(int(r["pid"]), int(r["first"]), int(r["rows"])) for r in dataset.iter_rows()]
    assert sorted((first, rows) for _, first, rows in got) == [(n, 4) for n in range(2, 42, 4)] + [(42, 2)]
    assert len({pid for pid, _, _ in got}) == 2
