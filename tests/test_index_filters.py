"""Filtered search against brute force: categories, brands, prices, stock, attributes; exact and ANN paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from index import FilterPolicy, Payload, SearchFilter, VectorIndex

N, DIM, CLUSTERS = 8_000, 32, 40
ANN_ONLY = FilterPolicy(exact_max_rows=0, exact_max_fraction=0.0)
EXACT_ONLY = FilterPolicy(exact_max_rows=N)


def clustered(rng: np.random.Generator, n: int, clusters: int = CLUSTERS) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((clusters, DIM))
    label = rng.integers(0, clusters, n)
    x = centres[label] + 0.6 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), label


@dataclass
class Catalog:
    vectors: np.ndarray
    payload: Payload
    flat: VectorIndex
    ivf: VectorIndex
    queries: np.ndarray

    def brute(self, flt: SearchFilter, k: int = 10) -> list[list[int]]:
        mask = self.payload.mask(flt)
        sims = self.queries @ self.vectors.T
        if mask is not None:
            sims[:, ~mask] = -np.inf
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return [
            [int(self.payload.vector_ids[j]) for j in row if np.isfinite(s[j])]
            for row, s in zip(order, sims, strict=True)
        ]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    rng = np.random.default_rng(7)
    vectors, cluster = clustered(rng, N)
    rows = np.arange(N)
    stock = [True, False, None, "yes", 0]
    payload = Payload.build(
        np.arange(5_000, 5_000 + N),
        [f"item-{i // 2}" for i in rows],
        [f"cluster-{c}" for c in cluster],  # a category correlated with the vectors
        brands=["Acme" if i % 200 == 0 else f"Brand {i % 20}" for i in rows],  # Acme: 0.5%
        prices=[None if i % 11 == 0 else float(i % 100) for i in rows],
        attributes=[
            {
                "in_stock": stock[i % 5],
                "color": ["Red", "blue", "GREEN"][i % 3],
                "kids": "True" if i % 4 else False,
            }
            if i % 13
            else {}
            for i in rows
        ],
    )
    flat = VectorIndex.build(vectors, payload.vector_ids, payload=payload, factory="Flat")
    ivf = VectorIndex.build(vectors, payload.vector_ids, payload=payload, factory="PCA16,IVF64,SQ8,Rerank10")
    queries = vectors[rng.choice(N, 24, replace=False)] + 0.05 * rng.standard_normal((24, DIM)).astype(
        np.float32
    )
    return Catalog(vectors, payload, flat, ivf, queries / np.linalg.norm(queries, axis=1, keepdims=True))


FILTERS = {
    "category": SearchFilter.of(categories=["cluster-3", "cluster-7"]),
    "rare brand (0.5%)": SearchFilter.of(brands=["ACME"]),
    "price range": SearchFilter.of(price_min=20, price_max=35.5),
    "in stock": SearchFilter.of(in_stock=True),
    "not in stock": SearchFilter.of(in_stock=False),
    "attribute": SearchFilter.of(attributes={"color": "red"}),
    "combined": SearchFilter.of(
        brands=["brand 3", "Brand 4"], price_max=60, in_stock=True, attributes={"kids": True}
    ),
}


def ids(hits: list[list]) -> list[list[int]]:  # type: ignore[type-arg]
    return [[n.vector_id for n in row] for row in hits]


def recall(got: list[list[int]], want: list[list[int]]) -> float:
    return float(np.mean([len(set(g) & set(w)) / max(len(w), 1) for g, w in zip(got, want, strict=True)]))


@pytest.mark.parametrize("name", FILTERS)
def test_exact_index_matches_brute_force_for_every_filter(catalog: Catalog, name: str) -> None:
    flt = FILTERS[name]
    assert ids(catalog.flat.search(catalog.queries, 10, filter=flt)) == catalog.brute(flt)
    catalog.flat.policy = ANN_ONLY  # the selector path over the Flat index is exact too
    try:
        assert ids(catalog.flat.search(catalog.queries, 10, filter=flt)) == catalog.brute(flt)
    finally:
        catalog.flat.policy = FilterPolicy()


@pytest.mark.parametrize("name", FILTERS)
def test_ivf_index_keeps_recall_under_every_filter_on_every_path(catalog: Catalog, name: str) -> None:
    flt = FILTERS[name]
    want = catalog.brute(flt)
    found = {}
    for path, policy, floor in (
        ("exact", EXACT_ONLY, 0.99),
        ("ann", ANN_ONLY, 0.95),
        ("default", None, 0.95),
    ):
        catalog.ivf.policy = policy or FilterPolicy()
        try:
            found[path] = ids(catalog.ivf.search(catalog.queries, 10, filter=flt))
        finally:
            catalog.ivf.policy = FilterPolicy()
        assert recall(found[path], want) >= floor, path
    allowed = set(catalog.payload.vector_ids[catalog.payload.mask(flt)].tolist())
    assert all(v in allowed for rows in found.values() for row in rows for v in row)


def test_a_filter_far_from_the_query_still_returns_k_allowed_neighbours(catalog: Catalog) -> None:
    """The allowed rows sit in one cluster none of the queries is near: the IVF lists nearest the
    query hold none of them, so the search must widen until it finds enough."""
    far = SearchFilter.of(categories=["cluster-0"])
    catalog.ivf.policy = ANN_ONLY
    try:
        got = ids(catalog.ivf.search(catalog.queries, 10, filter=far))
    finally:
        catalog.ivf.policy = FilterPolicy()
    assert all(len(row) == 10 for row in got)
    assert recall(got, catalog.brute(far)) >= 0.95


def test_recall_holds_at_50_5_and_half_percent_selectivity(catalog: Catalog) -> None:
    rng = np.random.default_rng(3)
    for share in (0.5, 0.05, 0.005):
        chosen = rng.random(N) < share
        # an attribute that selects exactly those rows, uncorrelated with the vectors
        payload = Payload.build(
            catalog.payload.vector_ids,
            catalog.payload.item_ids,
            catalog.payload.categories,
            attributes=[{"pick": bool(c)} for c in chosen],
        )
        index = VectorIndex(catalog.ivf.index, payload, DIM, catalog.ivf.plan, catalog.ivf.exact)
        flt = SearchFilter.of(attributes={"pick": True})
        sims = catalog.queries @ catalog.vectors.T
        sims[:, ~chosen] = -np.inf
        want = [[int(payload.vector_ids[j]) for j in row] for row in np.argsort(-sims, axis=1)[:, :10]]
        assert recall(ids(index.search(catalog.queries, 10, filter=flt)), want) >= 0.95, share


def test_stock_unknown_is_dropped_only_when_asking_for_items_in_stock(catalog: Catalog) -> None:
    p = catalog.payload
    stock = np.asarray(p.in_stock)
    assert set(np.unique(stock).tolist()) == {-1, 0, 1}
    in_stock = p.mask(SearchFilter.of(in_stock=True))
    not_in_stock = p.mask(SearchFilter.of(in_stock=False))
    assert in_stock is not None and not_in_stock is not None
    assert (in_stock == (stock == 1)).all()
    assert (not_in_stock == (stock != 1)).all()  # out of stock and unknown
    assert not (in_stock & not_in_stock).any()


def test_unknown_price_is_excluded_by_a_price_bound(catalog: Catalog) -> None:
    p = catalog.payload
    mask = p.mask(SearchFilter.of(price_min=0))
    assert mask is not None and not mask[np.isnan(p.price)].any() and mask[~np.isnan(p.price)].all()


def test_values_match_case_insensitively_and_booleans_canonically() -> None:
    payload = Payload.build(
        [1, 2, 3, 4],
        ["a", "b", "c", "d"],
        ["x", "x", "x", "x"],
        brands=["Nike", "nike ", "Adidas", None],
        attributes=[{"kids": "True"}, {"kids": True}, {"kids": "false"}, {"size": 42}],
    )
    assert payload.mask(SearchFilter.of(brands=["NIKE"])).tolist() == [True, True, False, False]  # type: ignore[union-attr]
    assert payload.mask(SearchFilter.of(attributes={"kids": True})).tolist() == [True, True, False, False]  # type: ignore[union-attr]
    assert payload.mask(SearchFilter.of(attributes={"size": "42"})).tolist() == [False, False, False, True]  # type: ignore[union-attr]
    assert payload.mask(SearchFilter.of(attributes={"missing": "x"})).tolist() == [False] * 4  # type: ignore[union-attr]
    assert payload.mask(SearchFilter()) is None
    with pytest.raises(ValueError, match="only text, number or boolean"):
        SearchFilter.of(attributes={"colors": ["red"]})


def test_filter_with_no_allowed_rows_returns_nothing(catalog: Catalog) -> None:
    flt = SearchFilter.of(brands=["nobody"])
    assert catalog.ivf.search(catalog.queries[:2], 5, filter=flt) == [[], []]
