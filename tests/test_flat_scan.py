"""The flat scan that scores a few queries in one pass: the same neighbours as FAISS."""

from __future__ import annotations

from contextlib import ExitStack

import faiss
import numpy as np
import pytest

from index import scan
from index.vector_index import VectorIndex, top_k
from lookalike.batching import InFlight
from lookalike.execution import ExecutionPolicy


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("nq", [1, 3, 8])
def test_scores_equal_a_matrix_product(nq: int) -> None:
    vectors, queries = unit_rows(5_000, 256, 0), unit_rows(nq, 256, 1)
    scores = scan.inner_products(queries, vectors)
    np.testing.assert_allclose(scores, queries @ vectors.T, rtol=0, atol=1e-5)


@pytest.mark.parametrize("k", [1, 10, 40, 700, 900])
def test_candidates_are_the_exact_top_k_of_faiss(k: int) -> None:
    vectors, queries = unit_rows(700, 64, 2), unit_rows(3, 64, 3)
    flat = faiss.IndexFlatIP(64)
    flat.add(vectors)
    want_scores, want_rows = flat.search(queries, min(k, 700))
    scores, rows = top_k(*scan.candidates(queries, vectors, k), k)
    assert np.array_equal(rows[:, : min(k, 700)], want_rows)
    np.testing.assert_allclose(scores[:, : min(k, 700)], want_scores, atol=1e-5)
    assert (rows[:, 700:] == -1).all()  # more asked than there are rows: padded


@pytest.mark.parametrize("in_flight", [1, 4])
def test_a_flat_index_answers_a_few_queries_like_faiss_alone_or_under_load(in_flight: int) -> None:
    vectors = unit_rows(3_000, 128, 4)
    index = VectorIndex.build(vectors, np.arange(3_000) + 10, [f"i{i}" for i in range(3_000)], ["c"] * 3_000)
    requests = InFlight()
    index.execution = ExecutionPolicy(demand=requests.count)
    queries = vectors[[5, 17, 2_999]] + 0.01 * unit_rows(3, 128, 5)
    with ExitStack() as stack:
        for _ in range(in_flight):
            stack.enter_context(requests)
        got = index.search(queries, 20)
        index._flat_scan = False  # FAISS's own search, for comparison
        want = index.search(queries, 20)
    assert [[n.vector_id for n in row] for row in got] == [[n.vector_id for n in row] for row in want]
    assert [row[0].vector_id for row in got] == [15, 27, 3_009]


def test_a_lone_search_with_more_than_two_cores_keeps_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit_rows(2_000, 64, 6)
    index = VectorIndex.build(vectors, np.arange(2_000), [f"i{i}" for i in range(2_000)], ["c"] * 2_000)
    requests = InFlight()
    index.execution = ExecutionPolicy(cores=4, demand=requests.count)  # a 4-core machine (this one has two)
    called: list[int] = []
    real = scan.candidates
    monkeypatch.setattr(scan, "candidates", lambda *a: called.append(1) or real(*a))
    with requests:  # alone: FAISS on its four threads
        index.search(vectors[:3], 10)
    assert not called
    with requests, requests:  # under load: one thread, the scan
        index.search(vectors[:3], 10)
    assert called
