"""Text search over a catalog's items, on a real SQLite file (FTS5) and the real PostgreSQL (tsvector)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, text

from catalog import CatalogStore, IngestBatch, ItemRecord
from lookalike.errors import UnknownCatalogError


@pytest.fixture
def store(database_url: str) -> Iterator[CatalogStore]:
    s = CatalogStore(database_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def catalog(store: CatalogStore) -> str:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    items = [
        ItemRecord("zara-linen", title="Linen blend shirt", brand="Zara", category="Shirt"),
        ItemRecord("mango-linen", title="Linen blend shirt", brand="Mango", category="Shirt"),
        ItemRecord("zara-jeans", title="Straight jeans", brand="Zara", category="Pants"),
        ItemRecord("cos-dress", title="Pleated midi dress", brand="COS", category="Dress"),
        ItemRecord("cafe-tee", title="Café tee", brand="Arket", category="T-Shirt", attributes={"c": "ecru"}),
    ]
    store.write_batch(name, IngestBatch(items=items))
    return name


def test_a_brand_alone_finds_that_brand_s_items(store: CatalogStore, catalog: str) -> None:
    found = store.text_search(catalog, ["zara"], 10)
    assert sorted(item for item, _ in found) == ["zara-jeans", "zara-linen"]


def test_more_words_matched_rank_higher(store: CatalogStore, catalog: str) -> None:
    found = store.text_search(catalog, ["zara", "linen", "blend", "shirt"], 10)
    assert [item for item, _ in found][:2] == ["zara-linen", "mango-linen"]
    assert found[0][1] > found[1][1] > 0
    assert {item for item, _ in found} == {"zara-linen", "mango-linen", "zara-jeans", "cafe-tee"}  # T-Shirt


def test_among_restricts_to_candidates_and_limit_caps(store: CatalogStore, catalog: str) -> None:
    assert store.text_search(catalog, ["linen"], 10, among=["mango-linen", "cos-dress"]) == [
        ("mango-linen", pytest.approx(store.text_search(catalog, ["linen"], 10)[0][1]))
    ]
    assert store.text_search(catalog, ["linen"], 10, among=[]) == []
    assert len(store.text_search(catalog, ["shirt"], 1)) == 1


def test_attributes_and_accents_are_searchable_and_syntax_is_inert(store: CatalogStore, catalog: str) -> None:
    assert [i for i, _ in store.text_search(catalog, ["ecru"], 10)] == ["cafe-tee"]
    if store.engine.dialect.name == "sqlite":  # FTS5 folds accents; PostgreSQL's 'simple' does not
        assert [i for i, _ in store.text_search(catalog, ["cafe"], 10)] == ["cafe-tee"]
    assert [i for i, _ in store.text_search(catalog, ["café"], 10)] == ["cafe-tee"]
    for hostile in ['"', "OR", "NEAR(", "*", "zara' OR 1=1 --", "a:b", "&|!"]:
        store.text_search(catalog, [hostile], 10)  # no syntax error, whatever it finds


def test_the_index_follows_updates_and_deletes(store: CatalogStore, catalog: str) -> None:
    store.update_item(catalog, "cos-dress", {"brand": "Zara"})
    assert "cos-dress" in {i for i, _ in store.text_search(catalog, ["zara"], 10)}
    assert store.text_search(catalog, ["cos"], 10) == []
    store.delete_items(catalog, ["zara-linen"])
    assert "zara-linen" not in {i for i, _ in store.text_search(catalog, ["zara"], 10)}


def test_catalogs_do_not_see_each_other(store: CatalogStore, catalog: str) -> None:
    other = f"other-{uuid.uuid4().hex[:8]}"
    store.write_batch(other, IngestBatch(items=[ItemRecord("z1", title="Zara coat", brand="Zara")]))
    assert [i for i, _ in store.text_search(other, ["zara"], 10)] == ["z1"]
    counts, total = store.word_counts(catalog, ["zara", "linen", "nothing"])
    assert (counts, total) == ({"zara": 2, "linen": 2, "nothing": 0}, 5)
    with pytest.raises(UnknownCatalogError):
        store.text_search("no-such-catalog", ["zara"], 10)


def test_items_loaded_before_the_migration_are_indexed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0002 fills the FTS table from the rows already there."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = CatalogStore(url)
    from alembic import command

    from catalog.migrate import alembic_config

    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    store.write_batch("old", IngestBatch(items=[ItemRecord("a", title="Linen shirt", brand="Zara")]))
    store.migrate()
    assert "items_fts" in inspect(store.engine).get_table_names()
    assert [i for i, _ in store.text_search("old", ["linen"], 10)] == ["a"]
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        assert (
            conn.execute(text("SELECT count(*) FROM sqlite_master WHERE name LIKE 'items_fts%'")).scalar()
            == 0
        )
    store.close()
