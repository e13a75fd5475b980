"""Index residency: catalogs load on first search, the least recently used leave first under the
byte budget, pinned and preloaded catalogs stay, and a cold catalog loads once however many ask."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ByteSize

from index import IndexStore, Payload, VectorIndex
from index.metrics import ResidencyMetrics
from index.registry import IndexRegistry, resident_set
from index.residency import Residency
from lookalike.errors import CatalogLoadingError, UnknownCatalogError
from lookalike.settings import ApiSettings, ResidencySettings
from tests.conftest import RuntimeFactory

DIM = 16
ROWS = 200


class Counts:
    """A ``ResidencyObserver`` that remembers what happened, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.count = self.nbytes = 0

    def hit(self, key: str) -> None:
        self.events.append(("hit", key))

    def miss(self, key: str) -> None:
        self.events.append(("miss", key))

    def loaded(self, key: str, seconds: float) -> None:
        self.events.append(("loaded", key))

    def evicted(self, key: str) -> None:
        self.events.append(("evicted", key))

    def resident(self, count: int, nbytes: int) -> None:
        self.count, self.nbytes = count, nbytes

    def of(self, kind: str) -> list[str]:
        return [k for e, k in self.events if e == kind]


def sized(nbytes: int) -> Callable[[], tuple[str, int]]:
    return lambda: ("value", nbytes)


# -- the policy on its own ---------------------------------------------------------------------


def test_the_least_recently_used_leave_first_once_the_budget_is_passed() -> None:
    counts = Counts()
    r: Residency[str] = Residency(300, observer=counts)
    for key in "abc":
        r.load(key, sized(100))
    r.get("a")  # a is now the most recently used: b is the oldest
    r.load("d", sized(100))
    assert [k for k, _ in r.resident()] == ["c", "a", "d"] and counts.of("evicted") == ["b"]
    r.load("e", sized(150))  # needs two slots: c, then a
    assert [k for k, _ in r.resident()] == ["d", "e"] and counts.of("evicted") == ["b", "c", "a"]
    assert (counts.count, counts.nbytes) == (2, 250)


def test_pinned_keys_are_never_evicted_even_over_the_budget() -> None:
    r: Residency[str] = Residency(200, pinned=["p"])
    r.load("p", sized(100))
    r.load("a", sized(100))
    r.load("b", sized(100))  # p is the oldest but pinned: a goes
    assert [k for k, _ in r.resident()] == ["p", "b"]
    r.load("q", sized(500))  # larger than the budget: served, everything unpinned leaves
    assert [k for k, _ in r.resident()] == ["p", "q"] and r.nbytes == 600
    r.load("c", sized(10))
    assert [k for k, _ in r.resident()] == ["p", "c"]  # q was not pinned


def test_concurrent_first_requests_share_one_load() -> None:
    calls: list[int] = []
    release = threading.Event()

    def slow() -> tuple[str, int]:
        calls.append(1)
        release.wait(5)
        return "value", 1

    r: Residency[str] = Residency(100, load_timeout_s=10)
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(r.load, "k", slow) for _ in range(16)]
        time.sleep(0.2)
        release.set()
        assert [f.result() for f in futures] == ["value"] * 16
    assert len(calls) == 1


def test_a_load_slower_than_the_wait_answers_loading_and_finishes_for_the_retry() -> None:
    release = threading.Event()

    def slow() -> tuple[str, int]:
        release.wait(5)
        return "value", 1

    r: Residency[str] = Residency(100, load_timeout_s=0.1)
    with pytest.raises(CatalogLoadingError, match="still loading") as info:
        r.load("k", slow)
    assert info.value.retry_after_s >= 1
    release.set()
    deadline = time.monotonic() + 5
    while r.peek("k") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert r.load("k", sized(1)) == "value"  # resident now: the loader is not called again


def test_a_failed_load_reaches_every_waiter_and_the_next_request_tries_again() -> None:
    attempts: list[int] = []

    def failing() -> tuple[str, int]:
        attempts.append(1)
        time.sleep(0.1)
        raise UnknownCatalogError("no such catalog")

    r: Residency[str] = Residency(100)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(r.load, "k", failing) for _ in range(4)]
        for f in futures:
            with pytest.raises(UnknownCatalogError):
                f.result()
    assert len(attempts) == 1 and r.peek("k") is None
    assert r.load("k", sized(1)) == "value"


# -- the registry with real FAISS indexes on disk -----------------------------------------------


def publish(store: IndexStore, catalog: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = list(range(ROWS))
    payload = Payload.build(ids, [f"{catalog}-{i}" for i in ids], ["x"] * ROWS)
    store.publish(catalog, VectorIndex.build(vectors, ids, payload=payload, factory="Flat"), model_spec="m")


@pytest.fixture()
def catalogs(tmp_path: Path) -> tuple[IndexStore, int]:
    """Five published catalogs c0..c4 and the resident size of one."""
    store = IndexStore(tmp_path)
    for n in range(5):
        publish(store, f"c{n}", n)
    one = IndexRegistry(IndexStore(tmp_path), "m", background=False).get("c0")[1].nbytes
    return store, one


def registry_with(
    root: Path,
    settings: ResidencySettings,
    preload: tuple[str, ...] = (),
    telemetry: CollectorRegistry | None = None,
) -> IndexRegistry:
    observer = ResidencyMetrics(telemetry) if telemetry is not None else None
    return IndexRegistry(
        IndexStore(root),
        "m",
        check_interval_s=0,
        background=False,
        residency=resident_set(settings, preload, observer),
    )


def test_a_registry_keeps_the_most_recently_searched_catalogs_within_its_budget(
    catalogs: tuple[IndexStore, int],
) -> None:
    store, one = catalogs
    telemetry = CollectorRegistry()
    registry = registry_with(
        store.root, ResidencySettings(budget_bytes=ByteSize(3 * one)), telemetry=telemetry
    )
    for catalog in ["c0", "c1", "c2", "c0", "c3"]:
        version, live = registry.get(catalog)
        assert live.items_of([0]) == [f"{catalog}-0"] and version == store.current_version(catalog)
    assert list(registry.loaded()) == ["c2", "c0", "c3"]  # c1 was the least recently used
    registry.get("c1")  # comes back on its next search
    assert list(registry.loaded()) == ["c0", "c3", "c1"]

    def value(name: str) -> float:
        got = telemetry.get_sample_value(name)
        assert got is not None, name
        return got

    assert value("lookalike_index_misses_total") == 5 and value("lookalike_index_hits_total") == 1
    assert value("lookalike_index_evictions_total") == 2
    assert value("lookalike_index_resident_catalogs") == 3
    assert value("lookalike_index_resident_bytes") == 3 * one
    assert value("lookalike_index_load_duration_seconds_count") == 5


def test_preloaded_and_pinned_catalogs_stay_while_others_come_and_go(
    catalogs: tuple[IndexStore, int],
) -> None:
    store, one = catalogs
    settings = ResidencySettings(budget_bytes=ByteSize(3 * one), pinned=["c1"])
    registry = registry_with(store.root, settings, preload=("c0",))
    for catalog in ["c0", "c1", "c2", "c3", "c4", "c2"]:
        registry.get(catalog)
    assert list(registry.loaded()) == ["c0", "c1", "c2"]  # c3 and c4 were evicted in turn


def test_sixteen_searches_of_one_cold_catalog_load_it_once(catalogs: tuple[IndexStore, int]) -> None:
    store, _ = catalogs
    counts = Counts()
    registry = IndexRegistry(IndexStore(store.root), "m", residency=Residency(1 << 30, observer=counts))
    start = threading.Barrier(16)

    def search() -> str:
        start.wait()
        return registry.get("c3")[0]

    with ThreadPoolExecutor(16) as pool:
        versions = list(pool.map(lambda _: search(), range(16)))
    assert set(versions) == {store.current_version("c3")}
    assert counts.of("loaded") == ["c3"] and len(counts.of("miss")) + len(counts.of("hit")) == 16


def test_a_new_version_of_a_resident_catalog_swaps_in_and_an_evicted_one_loads_fresh(
    catalogs: tuple[IndexStore, int],
) -> None:
    store, one = catalogs
    registry = registry_with(store.root, ResidencySettings(budget_bytes=ByteSize(2 * one)))
    assert registry.get("c0")[0] == store.current_version("c0")
    publish(store, "c0", 10)  # another writer
    assert registry.get("c0")[0] == store.current_version("c0")
    registry.get("c1")
    registry.get("c2")  # c0 leaves
    publish(store, "c0", 11)
    assert "c0" not in registry.loaded()
    assert registry.get("c0")[0] == store.current_version("c0")


def test_an_unknown_catalog_is_not_made_resident(catalogs: tuple[IndexStore, int]) -> None:
    store, one = catalogs
    registry = registry_with(store.root, ResidencySettings(budget_bytes=ByteSize(one)))
    with pytest.raises(UnknownCatalogError, match="no published index"):
        registry.get("nope")
    assert registry.loaded() == {}


def test_the_server_pins_its_preloaded_catalogs_and_reads_its_budget_from_settings(
    make_runtime: RuntimeFactory,
) -> None:
    runtime = make_runtime(
        api=ApiSettings(preload_catalogs=["demo"]),
        residency=ResidencySettings.model_validate({"pinned": ["vip"], "budget_bytes": "1MiB"}),
    )
    residency = runtime.indexes.residency
    assert residency.pinned == {"demo", "vip"} and residency.budget_bytes == 1024**2
