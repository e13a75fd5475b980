"""Bulk search: a manifest of query images -> one Parquet file of matches, locally and over HTTP."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from jobs import JobQueue
from service.bulk_search import (
    REJECT_SCHEMA,
    RESULT_SCHEMA,
    BulkOptions,
    ChunkResult,
    chunk_source,
    parts_folder,
    rejects_path_for,
    run_bulk,
)
from service.runtime import Runtime

if TYPE_CHECKING:
    from tests.api_fixtures import ImageServer, ShopCatalog

CATALOG = "shop"  # the session catalog of tests.api_fixtures
pytest_plugins = ["tests.api_fixtures"]


def write_queries(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["query_id", "image"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def queries(tmp_path: Path, shop_catalog: ShopCatalog) -> Path:
    """Seven catalog photos, a missing file and a file that is not an image."""
    (tmp_path / "notes.jpg").write_text("not an image")
    rows = [{"query_id": f"q{n}", "image": str(shop_catalog.photos[n])} for n in range(7)]
    rows += [{"query_id": "gone", "image": "nope.jpg"}, {"query_id": "text", "image": "notes.jpg"}]
    return write_queries(tmp_path / "queries.csv", rows)


def test_every_query_gets_one_row_set_or_one_reject(
    api_runtime: Runtime, shop_catalog: ShopCatalog, queries: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "results.parquet"
    options = BulkOptions(catalog=CATALOG, k=3, chunk_rows=4)
    summary = run_bulk(chunk_source(api_runtime, queries, options), out)
    assert (summary.queries, summary.searched, summary.rejected) == (9, 7, 2)
    results, rejects = pq.read_table(out), pq.read_table(rejects_path_for(out))
    assert results.schema == RESULT_SCHEMA and rejects.schema == REJECT_SCHEMA
    assert summary.result_rows == results.num_rows
    rows = results.to_pylist()
    assert sorted({r["query_id"] for r in rows}) == [f"q{n}" for n in range(7)]
    for n in range(7):  # a catalog photo finds its own item first
        best = next(r for r in rows if r["query_id"] == f"q{n}" and r["rank"] == 0)
        assert best["item_id"] == shop_catalog.item_id(n) and best["score"] > 0.99
    keys = [(r["query_row"], r["region"], r["rank"]) for r in rows]
    assert len(keys) == len(set(keys))
    reasons = {r["query_id"]: r["reason"] for r in rejects.to_pylist()}
    assert "not found" in reasons["gone"] and reasons.keys() == {"gone", "text"}
    assert not parts_folder(out, None).exists()  # parts are merged away


def test_a_query_post_v1_search_would_refuse_for_its_shape_or_size_is_a_reject(
    api_runtime: Runtime, shop_catalog: ShopCatalog, tmp_path: Path
) -> None:
    from PIL import Image

    Image.new("RGB", (3100, 60)).save(tmp_path / "strip.png")  # longer than 50x its width
    Image.new("RGB", (4100, 4100)).save(tmp_path / "poster.png")  # over 16 Mpx, and not a JPEG
    rows = [{"query_id": "strip", "image": "strip.png"}, {"query_id": "poster", "image": "poster.png"}]
    rows.append({"query_id": "fine", "image": str(shop_catalog.photos[0])})
    out = tmp_path / "results.parquet"
    options = BulkOptions(catalog=CATALOG, k=3)
    summary = run_bulk(chunk_source(api_runtime, write_queries(tmp_path / "q.csv", rows), options), out)
    assert (summary.searched, summary.rejected) == (1, 2)
    reasons = {r["query_id"]: r["reason"] for r in pq.read_table(rejects_path_for(out)).to_pylist()}
    assert "longer than 50 times its width" in reasons["strip"]
    assert "for PNG images" in reasons["poster"]


def test_a_run_that_dies_resumes_from_the_chunks_it_wrote(
    api_runtime: Runtime, queries: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.parquet"
    options = BulkOptions(catalog=CATALOG, k=3, chunk_rows=2)
    searched: list[int] = []

    def dies_after_two(done: set[int]) -> Iterator[ChunkResult]:
        for n, chunk in enumerate(chunk_source(api_runtime, queries, options)(done)):
            if n == 2:
                raise KeyboardInterrupt("killed")
            yield chunk

    with pytest.raises(KeyboardInterrupt):
        run_bulk(dies_after_two, out, job_id="j1")

    def counting(done: set[int]) -> Iterator[ChunkResult]:
        for chunk in chunk_source(api_runtime, queries, options)(done):
            searched.append(chunk.key)
            yield chunk

    summary = run_bulk(counting, out, job_id="j1")
    assert len(searched) == 3  # 5 chunks of 2 queries; the first 2 were already written
    assert (summary.queries, summary.searched, summary.rejected) == (9, 7, 2)
    assert len(set(pq.read_table(out).column("query_row").to_pylist())) == 7


def wait_finished(client: TestClient, job_id: str, timeout_s: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, object] = client.get(f"/v1/jobs/{job_id}").json()
        if body["state"] in ("succeeded", "failed", "cancelled"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_a_bulk_search_job_over_http(
    api_client: TestClient, image_server: ImageServer, shop_catalog: ShopCatalog
) -> None:
    urls = [image_server.add(f"/bulk/{n}.jpg", shop_catalog.photos[n].read_bytes()) for n in range(4)]
    text = "query_id,image\n" + "".join(f"u{n},{url}\n" for n, url in enumerate(urls))
    text += f"missing,{image_server.url('/bulk/none.jpg')}\nlocal,/etc/passwd\n"
    response = api_client.post(
        "/v1/jobs",
        data={"catalog": CATALOG, "k": "2"},
        files={"manifest": ("queries.csv", text.encode(), "text/csv")},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"].endswith(f"/v1/jobs/{job['id']}")
    assert job["kind"] == "search-batch" and "manifest" not in job["params"]
    body = wait_finished(api_client, job["id"])
    assert body["state"] == "succeeded", body
    summary = body["summary"]
    assert isinstance(summary, dict) and summary["results_path"] is None  # no server paths
    assert (summary["searched"], summary["rejected"]) == (4, 2)
    reasons = {r["query_id"]: r["reason"] for r in body["rejects"]}  # type: ignore[attr-defined]
    assert "HTTP 404" in reasons["missing"] and "http(s) URL only" in reasons["local"]

    results = api_client.get(f"/v1/jobs/{job['id']}/results")
    assert results.status_code == 200 and results.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(results.content))
    assert table.schema == RESULT_SCHEMA
    best = {r["query_id"]: r["item_id"] for r in table.to_pylist() if r["rank"] == 0}
    assert best == {f"u{n}": shop_catalog.item_id(n) for n in range(4)}
    rejects = pq.read_table(io.BytesIO(api_client.get(f"/v1/jobs/{job['id']}/rejects").content))
    assert rejects.num_rows == 2


def test_bulk_job_mistakes_are_clear_4xx(api_client: TestClient) -> None:
    form = {"catalog": CATALOG}
    csv_file = {"manifest": ("q.csv", b"image\nhttp://example.com/a.jpg\n", "text/csv")}
    assert api_client.post("/v1/jobs", data={"catalog": "nope"}, files=csv_file).status_code == 404
    neither = api_client.post("/v1/jobs", data=form)
    assert neither.status_code == 422 and "exactly one" in neither.json()["detail"]
    odd = api_client.post("/v1/jobs", data=form, files={"manifest": ("q.xlsx", b"x", "text/plain")})
    assert odd.status_code == 422 and "must end in" in odd.json()["detail"]
    assert api_client.post("/v1/jobs", data={**form, "k": "0"}, files=csv_file).status_code == 422
    queue: JobQueue = api_client.app.state.jobs  # type: ignore[attr-defined]
    waiting = queue.submit("not-run-here")
    early = api_client.get(f"/v1/jobs/{waiting.id}/results")
    assert early.status_code == 409 and "queued, not succeeded" in early.json()["detail"]
