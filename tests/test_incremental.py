"""Incremental updates: delta segments add, update and delete without a rebuild; compaction folds them in."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from catalog import ImageRecord, IngestBatch, ItemRecord, RegionRecord
from catalog_ingest import ingest_manifest
from catalog_ingest.publish import PublishResult, publish_catalog_index
from cli.main import app
from index import IndexStore, LiveIndex, Payload, SearchFilter, VectorIndex
from index.compaction import compact
from index.metrics import Metrics
from index.registry import IndexRegistry
from index.versions import SEGMENT_VECTORS_FILE
from lookalike.imaging import decode_image
from lookalike.settings import IndexSettings
from lookalike.types import Box
from service.runtime import Runtime
from service.search import SearchRequest
from tests.conftest import RuntimeFactory
from tests.images import clothing_photos

DIM = 32


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def payload(ids: list[int], items: list[str], **columns: list) -> Payload:  # type: ignore[type-arg]
    return Payload.build(ids, items, ["shirts"] * len(ids), **columns)


@pytest.fixture()
def base() -> tuple[VectorIndex, np.ndarray]:
    vectors = unit(np.random.default_rng(0), 400)
    ids = list(range(100, 500))
    p = payload(ids, [f"item-{i}" for i in ids], prices=[10.0] * 400)
    return VectorIndex.build(vectors, ids, payload=p, factory="PCA16,IVF16,SQ8,Rerank10"), vectors


def top_ids(live: LiveIndex, queries: np.ndarray, k: int = 5, **kw: object) -> list[list[int]]:
    return [[n.vector_id for n in row] for row in live.search(queries, k, **kw)]  # type: ignore[arg-type]


def test_delete_update_and_add_are_visible_and_a_deleted_item_is_never_returned(base) -> None:  # type: ignore[no-untyped-def]
    index, vectors = base
    live = LiveIndex(index, "v1")
    q = vectors[:3]
    assert [row[0] for row in top_ids(live, q)] == [100, 101, 102]
    # Delete the best match of query 0 and replace row 101's payload (an update: price changed).
    new = payload([101], ["item-101"], prices=[99.0])
    from index.live import DeltaSegment

    live = live.with_segments([DeltaSegment(1, np.array([100]), vectors[1:2], new)])
    hits = top_ids(live, q, k=400)
    assert all(100 not in row for row in hits) and len(hits[0]) == 399
    assert top_ids(live, q[1:2], filter=SearchFilter.of(price_min=50))[0] == [101]
    assert live.count == 399 and live.version == "v1+1"
    # Add a new item right where query 2 is.
    added = payload([900], ["new-item"], prices=[5.0])
    live = live.with_segments([DeltaSegment(2, np.array([], dtype=np.int64), q[2:3] * 1.0, added)])
    assert top_ids(live, q[2:3], k=1) == [[900]] and live.item_of(900) == "new-item"
    assert live.items_of([900, 101, 102]) == ["new-item", "item-101", live.base.item_of(102)]
    # Delete it again, and delete many base rows: the selector path hides them too.
    many = np.arange(100, 300)
    live = live.with_segments(
        [DeltaSegment(3, np.concatenate([[900], many]), np.zeros((0, DIM)), payload([], []))]
    )
    hits = top_ids(live, vectors[:50], k=20)
    assert all(v >= 300 or v == 101 for row in hits for v in row) and all(len(row) == 20 for row in hits)


def test_segments_persist_and_a_running_server_sees_them_within_a_second(tmp_path: Path, base) -> None:  # type: ignore[no-untyped-def]
    index, vectors = base
    writer = IndexStore(tmp_path)
    v1 = writer.publish("shop", index, model_spec="m")
    registry = IndexRegistry(IndexStore(tmp_path), "m", check_interval_s=0.1)  # background loading
    assert registry.get("shop")[0] == v1.version
    live_version = writer.append_delta("shop", [100], np.zeros((0, DIM), np.float32), payload([], []))
    assert live_version == f"{v1.version}+1" == writer.live_version("shop")
    deadline = time.monotonic() + 5
    while registry.get("shop")[0] != live_version and time.monotonic() < deadline:
        time.sleep(0.05)
    version, live = registry.get("shop")
    assert version == live_version and live.base is not None
    assert 100 not in top_ids(live, vectors[:1], k=10)[0]


def test_a_corrupt_segment_is_refused_and_the_previous_state_keeps_serving(tmp_path: Path, base) -> None:  # type: ignore[no-untyped-def]
    index, vectors = base
    writer = IndexStore(tmp_path)
    writer.publish("shop", index, model_spec="m")
    good = writer.append_delta("shop", [100], np.zeros((0, DIM), np.float32), payload([], []))
    metrics = Metrics()
    registry = IndexRegistry(IndexStore(tmp_path), "m", check_interval_s=0, background=False, metrics=metrics)
    assert registry.get("shop")[0] == good
    bad = writer.append_delta("shop", [], vectors[:1], payload([777], ["x"]))
    base_version = writer.current_version("shop")
    seg = tmp_path / "shop" / "deltas" / str(base_version) / "000002" / SEGMENT_VECTORS_FILE
    data = bytearray(seg.read_bytes())
    data[-4] ^= 0xFF
    seg.write_bytes(bytes(data))
    version, live = registry.get("shop")
    assert version == good and registry.refused["shop"] == bad
    assert metrics.value("lookalike_index_refused_total", catalog="shop") == 1
    assert 777 not in top_ids(live, vectors[:1], k=10)[0]


def test_compaction_folds_segments_into_a_new_base_with_the_same_results(tmp_path: Path, base) -> None:  # type: ignore[no-untyped-def]
    index, vectors = base
    store = IndexStore(tmp_path)
    store.publish("shop", index, model_spec="m")
    rng = np.random.default_rng(5)
    store.append_delta("shop", [100, 101, 102], unit(rng, 30), payload(list(range(1000, 1030)), ["new"] * 30))
    store.append_delta("shop", [1000], vectors[3:4], payload([103], ["item-103"], prices=[1.0]))
    before = store.load_live("shop")
    queries = unit(rng, 10)
    live_ids = before.live_payload().vector_ids
    order = np.argsort(-(queries @ before.live_vectors().T))[:, :10]
    exact = [[int(live_ids[j]) for j in row] for row in order]
    manifest = compact(store, "shop", factory="Flat")
    assert manifest is not None and manifest.count == before.count == 400 - 3 + 30 - 1
    after = store.load_live("shop")
    assert after.seq == 0 and after.base_version == manifest.version
    assert top_ids(after, queries, k=10) == exact  # the rebuilt Flat index is exact over the live rows
    got_before = top_ids(before, queries, k=10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got_before, exact, strict=True)]) >= 0.9
    assert after.item_of(103) == "item-103" and after.base.payload.price[after.base.rows_of([103])[0]] == 1.0
    assert compact(store, "shop") is None  # nothing left to fold


def test_compaction_carries_over_segments_appended_while_it_built(tmp_path: Path, base) -> None:  # type: ignore[no-untyped-def]
    index, vectors = base
    store = IndexStore(tmp_path)
    v1 = store.publish("shop", index, model_spec="m")
    store.append_delta("shop", [100], np.zeros((0, DIM), np.float32), payload([], []))
    snapshot = store.load_live("shop")
    store.append_delta("shop", [101], np.zeros((0, DIM), np.float32), payload([], []))  # during the build
    p = snapshot.live_payload()
    rebuilt = VectorIndex.build(snapshot.live_vectors(), p.vector_ids, payload=p)
    manifest = store.publish("shop", rebuilt, model_spec="m", carry_from=(v1.version, snapshot.seq))
    live = store.load_live("shop")
    assert live.version == f"{manifest.version}+1"
    assert {100, 101}.isdisjoint(top_ids(live, vectors[:2], k=10)[0] + top_ids(live, vectors[:2], k=10)[1])


# -- through the catalog store, the ingest publish step and the CLI -----------------------------------


def write_manifest(path: Path, photos: list[Path], prices: dict[str, float]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "image", "title", "category", "brand", "price", "in_stock"])
        for p in photos:
            w.writerow(
                [p.stem, str(p), f"Item {p.stem[:6]}", "Shirt", "Acme", prices.get(p.stem, 20.0), "true"]
            )
    return path


def add_item_to_store(runtime: Runtime, photo: Path) -> None:
    """What ingest writes for one new item (real embedding), without its publish step."""
    image = decode_image(photo.read_bytes(), source=photo.name)
    vector = runtime.embedder.embed_images([image.pixels])[0]
    region = RegionRecord(
        Box.full(image.width, image.height), None, 1.0, "none", runtime.embedder.spec, vector
    )
    batch = IngestBatch(
        items=[ItemRecord(photo.stem, title="New", category="Shirt", brand="Acme", price=20.0)],
        images=[ImageRecord(image.sha256, str(photo), image.width, image.height)],
        links=[(photo.stem, image.sha256)],
        regions={image.sha256: [region]},
    )
    runtime.store.write_batch("shop", batch)


def test_add_update_and_delete_through_the_store_reach_search(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = clothing_photos(7)
    runtime = make_runtime()
    ingest_manifest(
        runtime.ingest_parts(), write_manifest(tmp_path / "a.csv", photos[:6], {}), "shop", progress=False
    )
    base = runtime.index_store.current_version("shop")
    spec = runtime.embedder.spec

    def search(photo: Path, **filters: object) -> list[str]:
        runtime.indexes.refresh("shop")  # the CLI wrote through another IndexStore: load it now
        image = decode_image(photo.read_bytes(), source=photo.name)
        result = runtime.search.search(image, SearchRequest("shop", k=8, **filters))  # type: ignore[arg-type]
        return [m.item.item_id for m in result.regions[0].matches]

    assert search(photos[0])[0] == photos[0].stem
    # Add: the publish step appends a segment (a big base would; this policy says so for a small one).
    add_item_to_store(runtime, photos[6])
    delta_policy = IndexSettings(delta_min_base=0, delta_max_fraction=1.0)

    def publish() -> PublishResult:
        return publish_catalog_index(
            runtime.store,
            runtime.index_store,
            "shop",
            model_spec=spec,
            factory="auto",
            use_gpu=False,
            settings=delta_policy,
        )

    vectors_read: list[int] = []  # the publish step reads only the vectors it adds
    store_cls = type(runtime.store)
    real_vectors_of, real_region_vectors = store_cls.vectors_of, store_cls.region_vectors

    def vectors_of(self, ids):  # type: ignore[no-untyped-def]
        out = real_vectors_of(self, ids)
        vectors_read.append(len(out))
        return out

    def region_vectors(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_region_vectors(self, *args, **kwargs)
        vectors_read.append(len(out[0]) if out[0].shape[1] else 0)
        return out

    monkeypatch.setattr(store_cls, "vectors_of", vectors_of)
    monkeypatch.setattr(store_cls, "region_vectors", region_vectors)
    result = publish()
    assert (result.mode, result.version, result.count) == ("delta", f"{base}+1", 7)
    added_regions = len(runtime.store.region_vectors("shop", spec, [photos[6].stem], with_vectors=False)[1])
    assert sum(vectors_read) == added_regions >= 1  # (the count above read no vectors)
    assert search(photos[6])[0] == photos[6].stem
    with TestClient(create_app(runtime.settings, runtime)) as client:  # the API says the same
        listed = client.get("/v1/catalogs").json()["catalogs"]
    assert [c["index_version"] for c in listed if c["name"] == "shop"] == [f"{base}+1"]
    config = tmp_path / "settings.toml"
    config.write_text(f'data_dir = "{runtime.settings.data_dir}"\n')
    cli = CliRunner()
    # Delete: the item leaves the catalog and the index at once.
    out = cli.invoke(app, ["index", "delete", photos[0].stem, "--catalog", "shop", "--config", str(config)])
    assert out.exit_code == 0, out.output
    assert runtime.index_store.live_version("shop") == f"{base}+2"
    assert photos[0].stem not in search(photos[0])
    # Update: a price and stock change is what the filters see.
    args = ["--set", "price=250", "--set", "in_stock=false", "--catalog", "shop", "--config", str(config)]
    out = cli.invoke(app, ["index", "update", photos[1].stem, *args])
    assert out.exit_code == 0, out.output
    assert search(photos[2], price_min=100) == [photos[1].stem]
    assert photos[1].stem not in search(photos[1], in_stock=True)
    assert photos[1].stem in search(photos[1], in_stock=False)
    # Nothing changed since: the publish step has nothing to do.
    vectors_read.clear()
    again = publish()
    assert again.mode == "unchanged" and again.version == f"{base}+3"
    assert sum(vectors_read) == 0, "an unchanged catalog reads no vectors"
    out = cli.invoke(app, ["index", "list", "--catalog", "shop", "--config", str(config)])
    assert "segments=3 (+2 -1)" in out.output, out.output
    out = cli.invoke(app, ["index", "compact", "--catalog", "shop", "--config", str(config)])
    assert out.exit_code == 0, out.output
    assert "+" not in str(runtime.index_store.live_version("shop"))
    assert photos[0].stem not in search(photos[0]) and search(photos[6])[0] == photos[6].stem
    assert search(photos[2], price_min=100) == [photos[1].stem]
