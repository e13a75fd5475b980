"""The FAISS index stage: exact results, filters against brute force, versions on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index import IndexStore, IndexVersionError, VectorIndex
from index.metrics import Metrics
from index.registry import IndexRegistry
from lookalike.errors import UnknownCatalogError


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def catalog_index() -> tuple[VectorIndex, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng, 500, 32)
    ids = np.arange(1000, 1500, dtype=np.int64)
    items = np.array([f"item-{i // 2}" for i in range(500)])
    cats = np.array(["shoes" if i % 10 == 0 else "shirts" for i in range(500)])
    return VectorIndex.build(vectors, ids, items, cats), vectors


def test_search_returns_exact_inner_product_neighbours(catalog_index: tuple[VectorIndex, np.ndarray]) -> None:
    index, vectors = catalog_index
    queries = vectors[:5] + 0.01
    hits = index.search(queries, 10)
    brute = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    for row, expected in zip(hits, brute, strict=True):
        assert [n.vector_id for n in row] == [1000 + int(j) for j in expected]
        assert row[0].score >= row[-1].score


def test_category_filter_matches_brute_force_even_when_rare(
    catalog_index: tuple[VectorIndex, np.ndarray],
) -> None:
    index, vectors = catalog_index
    rng = np.random.default_rng(1)
    queries = unit_rows(rng, 8, 32)
    hits = index.search(queries, 10, categories={"shoes"})
    mask = index.categories == "shoes"
    sims = queries @ vectors.T
    sims[:, ~mask] = -np.inf
    brute = np.argsort(-sims, axis=1)[:, :10]
    for row, expected in zip(hits, brute, strict=True):
        assert [n.vector_id for n in row] == [1000 + int(j) for j in expected]
        assert all(index.category_of(n.vector_id) == "shoes" for n in row)


def test_filter_with_no_matching_vectors_returns_nothing(
    catalog_index: tuple[VectorIndex, np.ndarray],
) -> None:
    index, vectors = catalog_index
    assert index.search(vectors[:2], 5, categories={"hats"}) == [[], []]


def test_vector_ids_map_back_to_items(catalog_index: tuple[VectorIndex, np.ndarray]) -> None:
    index, _ = catalog_index
    assert index.item_of(1003) == "item-1"
    assert index.category_of(1010) == "shoes"


def test_publish_load_round_trip_and_current_pointer(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    index, vectors = catalog_index
    store = IndexStore(tmp_path)
    first = store.publish("shop", index, model_spec="m1", factory="Flat")
    second = store.publish("shop", index, model_spec="m1", factory="Flat")
    assert store.current_version("shop") == second.version
    assert [m.version for m in store.versions("shop")] == [first.version, second.version]
    manifest, loaded = store.load("shop", model_spec="m1")
    assert manifest.count == 500 and manifest.dim == 32
    assert [n.vector_id for n in loaded.search(vectors[:1], 3)[0]] == [
        n.vector_id for n in index.search(vectors[:1], 3)[0]
    ]


def test_corrupt_version_is_refused(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    index, _ = catalog_index
    store = IndexStore(tmp_path)
    m = store.publish("shop", index, model_spec="m1", factory="Flat")
    path = tmp_path / "shop" / m.version / "index.faiss"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexVersionError, match="checksum"):
        store.load("shop")


def test_mismatched_model_spec_is_refused(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    index, _ = catalog_index
    store = IndexStore(tmp_path)
    store.publish("shop", index, model_spec="m1", factory="Flat")
    with pytest.raises(IndexVersionError, match="built with 'm1'"):
        store.load("shop", model_spec="m2")


def test_registry_swaps_to_new_version_and_keeps_old_when_new_is_corrupt(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    index, _ = catalog_index
    writer = IndexStore(tmp_path)  # another process: the registry only sees the files
    metrics = Metrics()
    registry = IndexRegistry(
        IndexStore(tmp_path), model_spec="m1", check_interval_s=0, background=False, metrics=metrics
    )
    with pytest.raises(UnknownCatalogError):
        registry.get("shop")
    v1 = writer.publish("shop", index, model_spec="m1", factory="Flat")
    assert registry.get("shop")[0] == v1.version
    v2 = writer.publish("shop", index, model_spec="m1", factory="Flat")
    assert registry.get("shop")[0] == v2.version
    v3 = writer.publish("shop", index, model_spec="m1", factory="Flat")
    manifest_path = tmp_path / "shop" / v3.version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["dim"] = 64
    manifest_path.write_text(json.dumps(manifest))
    assert registry.get("shop")[0] == v2.version  # refused v3, still serving v2
    assert registry.refused["shop"] == v3.version
    assert metrics.value("lookalike_index_refused_total", catalog="shop") == 1
    assert registry.get("shop")[0] == v2.version  # refused once, not retried on every search
    assert metrics.value("lookalike_index_refused_total", catalog="shop") == 1
    v4 = writer.publish("shop", index, model_spec="m2", factory="Flat")  # another embedder
    assert registry.get("shop")[0] == v2.version and registry.refused["shop"] == v4.version
    v5 = writer.publish("shop", index, model_spec="m1", factory="Flat")
    assert registry.get("shop")[0] == v5.version and "shop" not in registry.refused


def test_gc_never_removes_current(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    index, _ = catalog_index
    store = IndexStore(tmp_path)
    m = store.publish("shop", index, model_spec="m1", factory="Flat")
    with pytest.raises(IndexVersionError):
        store.remove("shop", m.version)
