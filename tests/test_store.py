"""The catalog store on a real SQLite file and on the real local PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect

import tenancy.models  # noqa: F401  (its tables share the catalog's schema and migrations)
from catalog import CatalogStore, ImageRecord, IngestBatch, ItemRecord, RegionRecord
from catalog.migrate import include_name
from catalog.models import Base
from lookalike.errors import UnknownCatalogError, UnknownItemError
from lookalike.types import Box

MODEL = "test:model"


@pytest.fixture
def store(database_url: str) -> Iterator[CatalogStore]:
    s = CatalogStore(database_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def catalog() -> str:
    """A catalog name of its own: the PostgreSQL database is shared by the whole session."""
    return f"shop-{uuid.uuid4().hex[:8]}"


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def region(vector: np.ndarray, category: str | None = None, model: str = MODEL) -> RegionRecord:
    return RegionRecord(Box(0, 0, 10, 20), category, 0.9, "none", model, vector)


def sample_batch() -> IngestBatch:
    return IngestBatch(
        items=[
            ItemRecord(
                "shirt-1",
                title="Blue shirt",
                brand="Acme",
                category="Shirt",
                price=19.5,
                currency="EUR",
                url="https://shop.example/shirt-1",
                attributes={"kids": False, "size": "M"},
            ),
            ItemRecord("hat-1", title="Red hat", category="Hat"),
            ItemRecord("copy-1", title="Same photo as the shirt", category="Shirt"),
        ],
        images=[
            ImageRecord("a" * 64, "/data/shirt.jpg", 300, 400),
            ImageRecord("b" * 64, "https://cdn.example/hat.jpg", 200, 200),
            ImageRecord("c" * 64, "/data/shirt-back.jpg", 300, 400),
        ],
        links=[("shirt-1", "a" * 64), ("hat-1", "b" * 64), ("shirt-1", "c" * 64), ("copy-1", "a" * 64)],
        regions={
            "a" * 64: [region(unit(1, 0, 0, 0))],
            "b" * 64: [
                region(unit(0, 1, 0, 0), category="Cap"),
                region(unit(0, 1, 1, 0), model="other:model"),
            ],
            "c" * 64: [region(unit(0, 0, 1, 0))],
        },
    )


def test_round_trip_keeps_items_images_and_vectors(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())

    shirt = store.get_item(catalog, "shirt-1")
    assert (shirt.title, shirt.brand, shirt.category, shirt.price, shirt.currency) == (
        "Blue shirt",
        "Acme",
        "Shirt",
        19.5,
        "EUR",
    )
    assert shirt.url == "https://shop.example/shirt-1"
    assert shirt.attributes == {"kids": False, "size": "M"}
    # A local file is served by the API; an http(s) image is linked directly.
    assert shirt.image_url == f"/v1/catalogs/{catalog}/items/shirt-1/image"
    assert store.get_item(catalog, "hat-1").image_url == "https://cdn.example/hat.jpg"
    assert store.item_image_sources(catalog, "shirt-1") == ["/data/shirt.jpg", "/data/shirt-back.jpg"]

    info = store.get_catalog(catalog)
    assert (info.name, info.item_count, info.image_count, info.region_count) == (catalog, 3, 3, 4)
    assert info.created_at.tzinfo is not None
    assert catalog in [c.name for c in store.list_catalogs()]

    vectors, ids, items, categories = store.region_vectors(catalog, MODEL)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 4)
    assert ids.dtype == np.int64 and list(ids) == sorted(ids)
    # The shared shirt photo is indexed once, for the item that linked it first.
    assert list(items) == ["shirt-1", "hat-1", "shirt-1"]
    # The detector's category wins; otherwise the item's.
    assert list(categories) == ["Shirt", "Cap", "Shirt"]
    np.testing.assert_allclose(vectors[1], unit(0, 1, 0, 0))
    assert len(store.region_vectors(catalog, "other:model")[1]) == 1
    assert store.region_vectors(catalog, "unknown:model")[0].shape[0] == 0


def test_payload_without_vectors_and_vectors_by_region_id(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())
    vectors, ids, items, categories = store.region_vectors(catalog, MODEL)
    bare = store.region_vectors(catalog, MODEL, with_vectors=False)
    assert bare[0].shape == (len(ids), 0)
    assert (list(bare[1]), list(bare[2]), list(bare[3])) == (list(ids), list(items), list(categories))
    order = [int(ids[2]), int(ids[0])]
    np.testing.assert_array_equal(store.vectors_of(order), vectors[[2, 0]])
    with pytest.raises(KeyError):
        store.vectors_of([int(ids.max()) + 1000])


def test_get_items_is_one_query(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        found = store.get_items(catalog, ["hat-1", "shirt-1", "nope", "hat-1"])
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    assert sorted(found) == ["hat-1", "shirt-1"]
    assert found["shirt-1"].title == "Blue shirt"
    assert len(statements) == 1


def test_unknown_catalog_and_item_are_client_errors(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())
    with pytest.raises(UnknownCatalogError, match="nowhere"):
        store.get_catalog("nowhere")
    with pytest.raises(UnknownCatalogError):
        store.get_item("nowhere", "shirt-1")
    with pytest.raises(UnknownCatalogError):
        store.get_items("nowhere", ["shirt-1"])
    with pytest.raises(UnknownCatalogError):
        store.region_vectors("nowhere", MODEL)
    with pytest.raises(UnknownItemError, match="nope"):
        store.get_item(catalog, "nope")
    with pytest.raises(UnknownItemError):
        store.item_image_sources(catalog, "nope")
    assert store.get_items(catalog, []) == {}


def test_rewriting_a_batch_fills_blanks_and_keeps_links(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())
    again = sample_batch()
    again.items[1] = ItemRecord("hat-1", brand="Hatters", attributes={"colour": "red"})
    again.regions = {}
    store.write_batch(catalog, again)
    hat = store.get_item(catalog, "hat-1")
    assert (hat.title, hat.brand, hat.attributes) == ("Red hat", "Hatters", {"colour": "red"})
    info = store.get_catalog(catalog)
    assert (info.item_count, info.image_count, info.region_count) == (3, 3, 4)
    assert store.item_image_sources(catalog, "shirt-1") == ["/data/shirt.jpg", "/data/shirt-back.jpg"]


def test_embeddings_are_found_by_image_hash_across_catalogs(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())
    cached = store.find_cached_embeddings(["a" * 64, "f" * 64], model_spec=MODEL, detector_spec="none")
    assert list(cached) == ["a" * 64]
    assert (cached["a" * 64].width, cached["a" * 64].height) == (300, 400)
    np.testing.assert_allclose(cached["a" * 64].regions[0].vector, unit(1, 0, 0, 0))
    stored = store.find_images(catalog, ["b" * 64, "f" * 64], model_spec="other:model", detector_spec="none")
    assert list(stored) == ["b" * 64] and stored["b" * 64].has_regions
    assert not store.find_images(catalog, ["c" * 64], model_spec="other:model", detector_spec="none")[
        "c" * 64
    ].has_regions


def test_region_ids_are_never_reused(store: CatalogStore, catalog: str) -> None:
    store.write_batch(catalog, sample_batch())
    _, before, _, _ = store.region_vectors(catalog, MODEL)
    redo = IngestBatch(
        images=[ImageRecord("c" * 64, "/data/shirt-back.jpg", 300, 400)],
        regions={"c" * 64: [region(unit(0, 0, 1, 1))]},
    )
    store.write_batch(catalog, redo)  # replaces the newest region: its id must not come back
    _, after, _, _ = store.region_vectors(catalog, MODEL)
    assert len(after) == 3 and after[-1] > before[-1]


def test_migrations_run_twice_and_match_the_models(store: CatalogStore) -> None:
    store.migrate()
    store.migrate()
    tables = set(inspect(store.engine).get_table_names())
    assert {"catalogs", "items", "images", "item_images", "regions", "alembic_version"} <= tables
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_plain_postgresql_urls_use_psycopg3() -> None:
    from catalog.store import normalise_url

    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_concurrent_migrations_do_not_collide(database_url: str) -> None:
    """Workers and replicas start together: every one of them must come up migrated."""
    from concurrent.futures import ThreadPoolExecutor

    def start() -> int:
        store = CatalogStore(database_url)
        store.migrate()
        return len(store.list_catalogs())

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: start(), range(4)))
    assert len(set(counts)) == 1
