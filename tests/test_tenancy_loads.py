"""Bulk loads over HTTP: a manifest becomes a durable ``catalog-load`` job that survives a server
restart, reports its rejects and summary, meters the tenant, and refuses bad manifests at once."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from embedder import Embedder
from lookalike.settings import (
    ApiSettings,
    DetectorSettings,
    IngestSettings,
    JobsSettings,
    Settings,
    TenancySettings,
)
from service.jobs import job_runner
from service.runtime import Runtime
from tenancy import Plan, TenancyStore
from tests.conftest import CPU_EMBEDDER
from tests.images import clothing_photos

if TYPE_CHECKING:
    from tests.api_fixtures import ImageServer

pytest_plugins = ["tests.api_fixtures"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def manifest_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["item_id", "image", "title", "category"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def make_runtime(data_dir: Path, url: str | None, embedder: Embedder) -> Runtime:
    """Keys on, jobs run by the test (not the server), URLs on this machine allowed (the image server)."""
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        embedder=CPU_EMBEDDER,
        detector=DetectorSettings(spec="none"),
        api=ApiSettings(fetch_allow_private_networks=True),
        ingest=IngestSettings(fetch_allow_private_networks=True),
        jobs=JobsSettings(run_in_server=False),
        tenancy=TenancySettings(auth="keys"),
    )
    runtime = Runtime(settings, serving=True)
    runtime.__dict__["embedder"] = embedder
    return runtime


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str | None:
    return str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None


def test_a_load_survives_a_restart_and_reports_rejects_summary_and_usage(
    tmp_path: Path, db_url: str | None, embedder: Embedder, image_server: ImageServer
) -> None:
    photos = clothing_photos(4, start=60)
    urls = [image_server.add(f"/load/{p.name}", p.read_bytes()) for p in photos]
    rows = [
        {"item_id": f"i{n}", "image": u, "title": f"t{n}", "category": "Shirt"} for n, u in enumerate(urls)
    ]
    rows.append(
        {"item_id": "broken", "image": image_server.url("/load/missing.jpg"), "title": "", "category": ""}
    )

    first = make_runtime(tmp_path, db_url, embedder)
    store = TenancyStore(first.store.engine)
    tenant = store.create_tenant(f"load-{tmp_path.name[-8:].lower().replace('_', '-')}")
    _, key = store.create_key(tenant.slug, ["search", "catalog:read", "catalog:write"])
    with TestClient(create_app(runtime=first)) as client:
        assert client.post("/v1/catalogs", json={"name": "bulk"}, headers=bearer(key)).status_code == 201
        files = {"manifest": ("items.csv", manifest_csv(rows), "text/csv")}
        r = client.post("/v1/catalogs/bulk/loads", files=files, headers=bearer(key))
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.json()["state"] == "queued" and r.headers["location"] == f"/v1/catalogs/bulk/loads/{job_id}"
        assert client.get(f"/v1/jobs/{job_id}", headers=bearer(key)).json()["state"] == "queued"
    first.store.close()

    # A new server process over the same database: the queued load is still there and runs.
    second = make_runtime(tmp_path, db_url, embedder)
    assert job_runner(second).run_once() is not None
    with TestClient(create_app(runtime=second)) as client:
        load = client.get(f"/v1/catalogs/bulk/loads/{job_id}", headers=bearer(key)).json()
        assert load["state"] == "succeeded", load
        assert load["summary"]["loaded_items"] == 4 and load["summary"]["catalog"] == "bulk"
        assert load["summary"]["rejects_path"] is None and "manifest" not in load["params"]
        assert [r["item_id"] for r in load["rejects"]] == ["broken"]
        detail = client.get("/v1/catalogs/bulk", headers=bearer(key)).json()
        assert detail["item_count"] == 4 and detail["index_version"]
        usage = client.get("/v1/usage", headers=bearer(key)).json()
        assert usage["images_ingested"] == 4 and usage["days"][-1]["items_stored"] == 4
        shot = {"image": ("q.jpg", photos[1].read_bytes(), "image/jpeg")}
        r = client.post("/v1/search", files=shot, data={"catalog": "bulk"}, headers=bearer(key))
        assert r.json()["regions"][0]["matches"][0]["item_id"] == "i1"
    second.store.close()


def test_bad_manifests_are_refused_before_a_job_exists(
    tmp_path: Path, embedder: Embedder, image_server: ImageServer
) -> None:
    runtime = make_runtime(tmp_path, None, embedder)
    store = TenancyStore(runtime.store.engine)
    store.put_plan(Plan(name="tiny", max_items=2))
    store.create_tenant("tiny", plan="tiny")
    _, key = store.create_key("tiny", ["catalog:read", "catalog:write"])
    url = image_server.add("/bad/a.jpg", clothing_photos(1)[0].read_bytes())
    with TestClient(create_app(runtime=runtime)) as client:
        client.post("/v1/catalogs", json={"name": "c"}, headers=bearer(key))

        def load(body: bytes, name: str = "m.csv") -> object:
            files = {"manifest": (name, body, "text/csv")}
            return client.post("/v1/catalogs/c/loads", files=files, headers=bearer(key))

        local = manifest_csv([{"item_id": "a", "image": "/etc/passwd", "title": "", "category": ""}])
        r = load(local)
        assert r.status_code == 422 and "row 2" in r.json()["detail"] and "http(s)" in r.json()["detail"]
        three = manifest_csv(
            [{"item_id": f"i{n}", "image": url, "title": "", "category": ""} for n in range(3)]
        )
        r = load(three)
        assert (
            r.status_code == 403
            and r.json()["limit"] == "max_items"
            and "refused whole" in r.json()["detail"]
        )
        assert load(b"x", "m.exe").status_code == 422
        assert (
            client.post(
                "/v1/catalogs/nope/loads", files={"manifest": ("m.csv", three)}, headers=bearer(key)
            ).status_code
            == 404
        )
        # By URL: the server fetches the manifest itself.
        two = manifest_csv(
            [{"item_id": f"i{n}", "image": url, "title": "", "category": ""} for n in range(2)]
        )
        manifest_url = image_server.add("/bad/two.csv", two, content_type="text/csv")
        r = client.post("/v1/catalogs/c/loads", json={"manifest_url": manifest_url}, headers=bearer(key))
        assert r.status_code == 202, r.text
        assert client.get("/v1/jobs", headers=bearer(key)).json()["jobs"][0]["id"] == r.json()["id"]
    runtime.store.close()
