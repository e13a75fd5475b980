"""Fixtures of the tenancy tests: a server with ``auth = "keys"`` and two tenants, built over HTTP.

Load with ``pytest_plugins = ["tests.tenancy_fixtures"]``. Everything is real: the app through
the ASGI stack, keys in the database, MobileNetV2 embedding the uploaded photos, FAISS indexes.
Both tenants have a catalog called "shoes" (different items); globex also has "boots".
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from embedder import Embedder
from lookalike.settings import ApiSettings, DetectorSettings, Settings, TenancySettings
from service.runtime import Runtime
from tenancy import TenancyStore
from tests.conftest import CPU_EMBEDDER
from tests.images import clothing_photos


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def photo_b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@dataclass
class World:
    client: TestClient
    runtime: Runtime
    admin: str
    """An operator key (admin scope)."""
    tenants: dict[str, str]
    """Role ("acme", "globex") -> tenant id."""
    keys: dict[str, str]
    """"acme", "globex": search + read + write; "acme-search": search only."""
    items: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Role -> catalog -> item ids."""
    photos: list[Path] = field(default_factory=list)

    def as_(self, role: str) -> dict[str, str]:
        return bearer(self.keys[role])

    def admin_headers(self) -> dict[str, str]:
        return bearer(self.admin)

    def new_tenant(
        self, plan: dict[str, Any] | None = None, scopes: list[str] | None = None
    ) -> tuple[str, str]:
        """A fresh tenant (on its own plan when given) and a key of it with these scopes."""
        slug = f"t-{uuid.uuid4().hex[:10]}"
        plan_name = None
        if plan is not None:
            plan_name = f"plan-{slug}"
            r = self.client.put(f"/v1/admin/plans/{plan_name}", json=plan, headers=self.admin_headers())
            assert r.status_code == 200, r.text
        r = self.client.post(
            "/v1/admin/tenants", json={"id": slug, "plan": plan_name}, headers=self.admin_headers()
        )
        assert r.status_code == 201, r.text
        body = {"scopes": scopes or ["search", "catalog:read", "catalog:write"]}
        r = self.client.post(f"/v1/admin/tenants/{slug}/keys", json=body, headers=self.admin_headers())
        assert r.status_code == 201, r.text
        return slug, r.json()["secret"]

    def upsert(self, headers: dict[str, str], catalog: str, item_id: str, photo: Path, **meta: Any) -> Any:
        body = {"title": item_id, **meta, "images": [{"base64": photo_b64(photo)}]}
        return self.client.put(f"/v1/catalogs/{catalog}/items/{item_id}", json=body, headers=headers)


def tenancy_settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        embedder=CPU_EMBEDDER,
        detector=DetectorSettings(spec="none"),
        api=ApiSettings(default_catalog="shoes"),
        tenancy=TenancySettings(auth="keys"),
    )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[World]:
    """Two tenants with catalogs, on SQLite and on the local PostgreSQL."""
    data_dir = tmp_path_factory.mktemp("tenancy")
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None
    runtime = Runtime(tenancy_settings(data_dir, url), serving=True)
    runtime.__dict__["embedder"] = embedder
    _, admin = TenancyStore(runtime.store.engine).create_key(None, ["admin"], "operator")
    with TestClient(create_app(runtime=runtime)) as client:
        w = World(client, runtime, admin, {}, {}, photos=clothing_photos(8, start=40))
        for role in ("acme", "globex"):
            slug, secret = w.new_tenant()
            w.tenants[role], w.keys[role] = slug, secret
        r = client.post(
            f"/v1/admin/tenants/{w.tenants['acme']}/keys",
            json={"scopes": ["search"]},
            headers=w.admin_headers(),
        )
        w.keys["acme-search"] = r.json()["secret"]
        layout = {
            "acme": {"shoes": w.photos[0:3]},
            "globex": {"shoes": w.photos[3:5], "boots": w.photos[5:7]},
        }
        for role, catalogs in layout.items():
            w.items[role] = {}
            for catalog, photos in catalogs.items():
                r = client.post("/v1/catalogs", json={"name": catalog}, headers=w.as_(role))
                assert r.status_code == 201, r.text
                ids = [f"item-{uuid.uuid4().hex[:8]}" for _ in photos]  # names nothing of its tenant
                for item_id, photo in zip(ids, photos, strict=True):
                    r = w.upsert(w.as_(role), catalog, item_id, photo, brand=role)
                    assert r.status_code == 200 and not r.json()["rejects"], r.text
                w.items[role][catalog] = ids
        yield w
