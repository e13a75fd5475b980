"""Dependencies that fail and come back: the server starts without its database or index, says so
on /readyz (503, a reason, no server path), answers searches 503 + Retry-After, and recovers by
itself, without a restart, when they return - at start and while it runs.

The database is a real one on the local PostgreSQL whose connections are switched off and on
(``ALTER DATABASE ... ALLOW_CONNECTIONS``, existing sessions terminated), as when it goes down.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from catalog_ingest import ingest_manifest
from catalog_ingest.datasets.clothing import write_clothing_manifest
from lookalike.redact import public_reason, without_paths
from lookalike.settings import ApiSettings
from tests.conftest import PG_ADMIN_URL, RuntimeFactory
from tests.images import CLOTHING, CLOTHING_IMAGES, clothing_photos

Access = Callable[[bool], None]


@pytest.fixture
def switchable_pg() -> Iterator[tuple[str, Access]]:
    """A fresh database and a switch that cuts (and restores) every connection to it."""
    psycopg = pytest.importorskip("psycopg")
    admin_url = os.environ.get("LOOKALIKE_TEST_PG_ADMIN_URL", PG_ADMIN_URL)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {admin_url} is unreachable: {exc}")
    name = f"lookalike_down_{uuid.uuid4().hex[:12]}"

    def access(allowed: bool) -> None:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])

    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        info = admin.info
        try:
            yield f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}", access
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def eventually(
    check: Callable[[], httpx.Response],
    status: int,
    until: Callable[[dict[str, Any]], bool] = lambda body: True,
    timeout_s: float = 60.0,
) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        response = check()
        done = response.status_code == status and until(response.json())
        if done or time.monotonic() > deadline:
            assert done, response.text
            return response
        time.sleep(0.1)


def assert_no_server_path(response: httpx.Response, *paths: Path) -> None:
    for path in paths:
        assert str(path) not in response.text, response.text
    assert "/tmp/" not in response.text and "Traceback" not in response.text


@pytest.mark.postgres
def test_the_server_rides_out_a_database_that_is_down_at_start_and_goes_away_later(
    make_runtime: RuntimeFactory, switchable_pg: tuple[str, Access], tmp_path: Path
) -> None:
    url, access = switchable_pg
    photos = clothing_photos(4)
    manifest = tmp_path / "shop.csv"
    write_clothing_manifest(CLOTHING, manifest, item_ids={p.stem for p in photos})
    query = {"image": ("q.jpg", photos[0].read_bytes(), "image/jpeg")}
    access(False)
    runtime = make_runtime(
        database_url=url, api=ApiSettings(default_catalog="shop", preload_catalogs=["shop"])
    )
    app = create_app(runtime.settings, runtime=runtime)
    with TestClient(app) as client:
        app.state.warmup.retry_s = 0.1

        # Down at start: not ready, with the reason and no path; searches 503 + Retry-After.
        down = eventually(lambda: client.get("/readyz"), 503, lambda body: body["checks"]["embedder"] == "ok")
        assert down.json()["checks"]["database"].startswith("failed: OperationalError")
        assert down.json()["checks"]["embedder"] == "ok"  # the models load without the database
        assert_no_server_path(down, runtime.settings.data_dir)
        search = client.post("/v1/search", files=query)
        assert search.status_code == 503 and search.headers["retry-after"], search.text
        assert search.headers["content-type"] == "application/problem+json"
        assert_no_server_path(search, runtime.settings.data_dir)

        # The database comes back, still without an index: ready for the database, not for the catalog.
        access(True)
        no_index = eventually(lambda: client.get("/readyz"), 503)
        assert_no_server_path(no_index, runtime.settings.data_dir)
        report = ingest_manifest(
            runtime.ingest_parts(), manifest, "shop", images_root=CLOTHING_IMAGES, progress=False
        )
        assert report.loaded_items == 4, report.summary()
        ready = eventually(lambda: client.get("/readyz"), 200)
        assert ready.json()["checks"]["database"] == "ok"
        assert eventually(lambda: client.post("/v1/search", files=query, data={"k": "2"}), 200)

        # It goes away while serving: 503 with Retry-After, never a 500.
        access(False)
        gone = eventually(lambda: client.get("/readyz"), 503)
        assert gone.json()["checks"]["database"].startswith("unreachable: OperationalError")
        during = client.post("/v1/search", files=query, data={"k": "3"})
        assert during.status_code == 503 and during.headers["retry-after"], during.text
        assert during.json()["title"] == "Dependency unavailable"
        assert_no_server_path(during, runtime.settings.data_dir)

        # And comes back: no restart.
        access(True)
        eventually(lambda: client.get("/readyz"), 200)
        back = eventually(lambda: client.post("/v1/search", files=query, data={"k": "3"}), 200)
        assert back.json()["regions"][0]["matches"][0]["item_id"] == photos[0].stem


def test_reasons_for_clients_name_files_not_server_paths() -> None:
    assert without_paths("cannot read /srv/data/var/indexes/shop/v3/index.faiss: gone") == (
        "cannot read index.faiss: gone"
    )
    assert without_paths("see https://example.com/a/b") == "see https://example.com/a/b"
    error: Any = OSError("disk full while writing /var/lib/x/y.tmp\nSQL: INSERT ...")
    assert public_reason(error) == "OSError: disk full while writing y.tmp"
