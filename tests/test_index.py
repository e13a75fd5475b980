"""The FAISS index stage: exact results, filters against brute force, versions on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index import IndexStore, IndexVersionError, VectorIndex, plan_index
from index.builder import estimate_bytes
from index.metrics import Metrics
from index.registry import IndexRegistry
from lookalike.errors import UnknownCatalogError
from lookalike.settings import IndexSettings


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
    ids = [1003, 1010, 1003]
    assert index.items_of(ids) == [index.item_of(i) for i in ids]  # the vectorised path agrees
    assert index.items_of([]) == []
    with pytest.raises(KeyError):
        index.items_of([1003, 999_999])


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


# -- choosing the index ------------------------------------------------------------------------


def test_builder_picks_by_catalog_size_and_memory_budget() -> None:
    assert plan_index(5_000, 1280).description == "Flat"
    mid = plan_index(100_000, 1280)
    assert mid.description == "PCA128,IVF1024,SQ8,Rerank10" and mid.train_size == 50_000
    big = plan_index(1_000_000, 1280)
    assert big.description == "PCA128,IVF4096,SQ8,Rerank10" and big.nprobe >= 64
    assert estimate_bytes(big, 1_000_000) <= 1024 * 2**20  # the 1 GB budget, with room to spare
    huge = plan_index(20_000_000, 1280, memory_budget_mb=1024)
    assert huge.factory.startswith("OPQ") and "PQ" in huge.factory and huge.rerank > 0
    assert estimate_bytes(huge, 20_000_000) <= 1024 * 2**20
    assert plan_index(100_000, 128).pca_dim == 0  # small vectors are not reduced


def test_factory_strings_override_the_choice_and_bad_ones_are_refused() -> None:
    plan = plan_index(1_000_000, 1280, factory="PCA64,IVF256,SQ8,Rerank5", nprobe=12)
    assert (plan.pca_dim, plan.factory, plan.rerank, plan.nprobe) == (64, "IVF256,SQ8", 5, 12)
    assert plan_index(10, 32, factory="IVF16,SQ8,Rerank0").rerank == 0
    assert plan_index(10, 32, factory="HNSW16").ef_search > 0
    with pytest.raises(ValueError, match="not a valid FAISS factory"):
        plan_index(10, 32, factory="IVF16,Nonsense")
    with pytest.raises(ValueError, match="PCA dimension"):
        plan_index(10, 32, factory="PCA64,Flat")


def test_uncentered_pca_ivf_with_rerank_finds_the_exact_neighbours() -> None:
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((20, 64))
    x = centres[rng.integers(0, 20, 6000)] + 0.5 * rng.standard_normal((6000, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    index = VectorIndex.build(x, np.arange(6000), [str(i) for i in range(6000)], ["c"] * 6000, factory="auto")
    assert index.plan.description == "Flat"
    ivf = VectorIndex.build(
        x, np.arange(6000), [str(i) for i in range(6000)], ["c"] * 6000, factory="PCA32,IVF32,SQ8,Rerank10"
    )
    queries = x[:50]
    exact = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    found = [[n.vector_id for n in row] for row in ivf.search(queries, 10)]
    recall = np.mean([len(set(f) & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.95
    assert all(abs(row[0].score - 1.0) < 1e-3 for row in ivf.search(queries, 1))  # exact re-ranked scores


def test_a_first_format_version_still_loads(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    """Versions written before payload columns and per-file checksums existed."""
    import hashlib

    import faiss

    index, vectors = catalog_index
    vdir = tmp_path / "shop" / "v1"
    vdir.mkdir(parents=True)
    faiss.write_index(index.index, str(vdir / "index.faiss"))
    np.savez(
        vdir / "payload.npz",
        vector_ids=index.vector_ids,
        item_ids=index.item_ids,
        categories=index.categories,
    )
    digest = hashlib.sha256(
        (vdir / "index.faiss").read_bytes() + (vdir / "payload.npz").read_bytes()
    ).hexdigest()
    manifest = {
        "catalog": "shop", "version": "v1", "model_spec": "m1", "dim": 32, "count": 500, "factory": "Flat",
        "checksum": digest, "created_at": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "shop" / "CURRENT").write_text("v1\n")
    _, loaded = IndexStore(tmp_path).load("shop", model_spec="m1")
    assert loaded.item_of(1003) == "item-1"
    hits = loaded.search(vectors[:3], 5, categories={"shoes"})
    assert all(loaded.category_of(n.vector_id) == "shoes" for row in hits for n in row)


def test_registry_takes_search_parameters_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = unit_rows(rng, 3000, 32)
    ivf = VectorIndex.build(
        x, np.arange(3000), [str(i) for i in range(3000)], ["c"] * 3000, factory="IVF16,Flat"
    )
    store = IndexStore(tmp_path)
    store.publish("shop", ivf, model_spec="m1")
    settings = IndexSettings(nprobe=7, exact_filter_rows=5, exact_filter_fraction=0.0)
    _, live = IndexRegistry.from_settings(IndexStore(tmp_path), "m1", settings).get("shop")
    assert live.base.plan.nprobe == 7 and live.base.policy.exact_max_rows == 5
    assert faiss_nprobe(live.base) == 7


def faiss_nprobe(index: VectorIndex) -> int:
    import faiss

    return int(faiss.extract_index_ivf(index.index).nprobe)


def test_cli_rollback_verifies_its_target_and_gc_keeps_current(tmp_path, catalog_index) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from cli.main import app

    index, vectors = catalog_index
    store = IndexStore(tmp_path / "indexes")
    versions = [store.publish("shop", index, model_spec="m1").version for _ in range(4)]
    store.append_delta(
        "shop", [1000], np.zeros((0, 32), np.float32), index.payload.take(np.array([], np.int64))
    )
    config = tmp_path / "settings.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    cli = CliRunner()

    def run(*args: str) -> str:
        out = cli.invoke(app, ["index", *args, "--catalog", "shop", "--config", str(config)])
        return f"{out.exit_code} {out.output}"

    listing = run("list")
    assert listing.startswith("0") and f"* {versions[-1]}" in listing and "segments=1 (+0 -1)" in listing
    # Corrupt the previous version: rollback refuses it and CURRENT stays.
    bad = tmp_path / "indexes" / "shop" / versions[2] / "payload.npz"
    bad.write_bytes(bad.read_bytes()[:-8])
    assert run("rollback").startswith("1") and store.current_version("shop") == versions[-1]
    assert run("rollback", "--to", versions[1]) == f"0 shop: CURRENT -> {versions[1]}\n"
    assert store.current_version("shop") == versions[1]
    assert run("gc", "--keep", "1").startswith("0 shop: removed 2 version(s)")
    assert [m.version for m in store.versions("shop")] == [versions[1], versions[3]]
    assert not (tmp_path / "indexes" / "shop" / "deltas" / versions[2]).exists()
    assert (tmp_path / "indexes" / "shop" / "deltas" / versions[3]).exists()  # kept with its version
    assert [n.vector_id for n in store.load_live("shop").search(vectors[:1], 1)[0]] == [1000]
