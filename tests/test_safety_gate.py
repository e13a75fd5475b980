"""The upload safety gate with the real NudeNet model on benign photos, end to end over HTTP.

No explicit material anywhere: the policies under test act on classes the model finds in an
ordinary street-fashion photo (a woman's face, FACE_FEMALE), which proves refuse and flag the same
way an explicit class would, with real model outputs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from lookalike.settings import DEFAULT_SAFETY_RULES, SafetyRule, SafetySettings, Settings
from service.runtime import Runtime
from tests.images import SHARED
from tests.test_api_residency import sample
from understanding import BodyDetector, SafetyGate, judge, policy_acts

if TYPE_CHECKING:
    from tests.api_fixtures import ShopCatalog

pytest_plugins = ["tests.api_fixtures"]

PERSON = SHARED / "data" / "people" / "images" / "0002.jpg"
"""A street-fashion photo: the model finds a woman's face at about 0.8 (covered classes too)."""
REFUSE_FACES = [SafetyRule(classes=["FACE_FEMALE"], min_score=0.5, action="refuse")]
FLAG_FACES = [SafetyRule(classes=["FACE_FEMALE", "FEET_EXPOSED"], min_score=0.5, action="flag")]


def upload(client: TestClient, path: Path, **fields: Any) -> Any:
    return client.post(
        "/v1/search",
        files={"image": (path.name, path.read_bytes(), "image/jpeg")},
        data={k: str(v) for k, v in fields.items()},
    )


def app_with_safety(runtime: Runtime, **safety: Any) -> FastAPI:
    """An app over the session's runtime whose requests carry ``x-test-tenant`` as their tenant."""
    settings: Settings = runtime.settings.model_copy(update={"safety": SafetySettings(**safety)})
    app = create_app(settings, runtime=runtime)

    @app.middleware("http")
    async def tenant_from_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.tenant_id = request.headers.get("x-test-tenant")  # what tenancy's auth sets
        return await call_next(request)

    return app


def test_the_most_severe_rule_that_fires_decides() -> None:
    rules = [
        SafetyRule(classes=["FACE_FEMALE"], min_score=0.5, action="flag"),
        SafetyRule(classes=["FEET_COVERED"], min_score=0.7, action="refuse"),
        SafetyRule(classes=["BELLY_COVERED"], min_score=0.1, action="allow"),
    ]
    assert judge({"FACE_FEMALE": 0.8, "FEET_COVERED": 0.6, "BELLY_COVERED": 0.9}, rules).action == "flag"
    verdict = judge({"FACE_FEMALE": 0.8, "FEET_COVERED": 0.75}, rules)
    assert verdict.action == "refuse"
    assert [(f.label, f.action) for f in verdict.findings] == [
        ("FEET_COVERED", "refuse"),
        ("FACE_FEMALE", "flag"),
    ]
    assert judge({"FACE_FEMALE": 0.49}, rules).action == "allow"
    assert not policy_acts([]) and not policy_acts([rules[2]]) and policy_acts(rules)


def test_unknown_classes_and_input_sides_are_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="unknown NudeNet class"):
        SafetyRule(classes=["SWIMSUIT"], action="refuse")
    with pytest.raises(ValueError, match="multiple of 32"):
        SafetySettings(input_side=250)


def test_the_model_finds_a_face_on_a_person_and_no_exposed_class_on_garments(
    shop_catalog: ShopCatalog,
) -> None:
    detector = BodyDetector()
    with Image.open(PERSON) as img:
        person = detector.class_scores(img)
    assert person["FACE_FEMALE"] > 0.6
    with Image.open(shop_catalog.photos[0]) as img:
        garment = detector.class_scores(img)
    assert judge(garment, list(DEFAULT_SAFETY_RULES)).action == "allow"
    assert max(v for k, v in garment.items() if k.endswith("_EXPOSED")) < 0.3


def test_an_empty_or_allow_policy_never_loads_the_model() -> None:
    gate = SafetyGate()
    with Image.open(PERSON) as img:
        assert gate.screen(img, []).action == "allow"
        assert gate.screen(img, [SafetyRule(classes=["FACE_FEMALE"], action="allow")]).action == "allow"
    assert gate.detector._session is None


def test_refuse_answers_422_with_a_problem_document(api_runtime: Runtime, shop_catalog: ShopCatalog) -> None:
    with TestClient(app_with_safety(api_runtime, rules=REFUSE_FACES)) as client:
        response = upload(client, PERSON, k=3)
        garment = upload(client, shop_catalog.photos[0], k=3)
        metrics = client.get("/metrics").text
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "urn:lookalike:problem:unsafe-image"
    assert "FACE_FEMALE" in body["detail"]
    assert body["findings"][0]["label"] == "FACE_FEMALE" and body["findings"][0]["action"] == "refuse"
    assert garment.status_code == 200 and garment.json()["safety"] == {"action": "allow", "findings": []}
    assert sample(metrics, "lookalike_upload_safety_total", action="refuse", tenant="unknown") >= 1


def test_flag_answers_with_the_flag_and_counts_it(api_runtime: Runtime, shop_catalog: ShopCatalog) -> None:
    with TestClient(app_with_safety(api_runtime, rules=FLAG_FACES)) as client:
        client.headers["x-test-tenant"] = "acme"
        response = upload(client, PERSON, k=3)
        metrics = client.get("/metrics").text
    assert response.status_code == 200, response.text
    safety = response.json()["safety"]
    assert safety["action"] == "flag"
    assert [f["label"] for f in safety["findings"]] == ["FACE_FEMALE"]
    assert response.json()["regions"][0]["matches"], "a flagged upload is still answered"
    assert sample(metrics, "lookalike_upload_safety_total", action="flag", tenant="acme") == 1


def test_a_tenant_policy_replaces_the_server_policy_and_the_cache_keeps_them_apart(
    api_runtime: Runtime, shop_catalog: ShopCatalog
) -> None:
    """The result cache is on in this runtime: an answer given under a flag policy must not be
    served to a tenant whose policy refuses the same bytes, nor to a server with no policy."""
    app = app_with_safety(api_runtime, rules=FLAG_FACES, tenants={"strict": REFUSE_FACES, "lax": []})
    with TestClient(app) as client:
        first = upload(client, PERSON, k=2, regions="none")
        again = upload(client, PERSON, k=2, regions="none")
        client.headers["x-test-tenant"] = "strict"
        strict = upload(client, PERSON, k=2, regions="none")
        client.headers["x-test-tenant"] = "lax"
        lax = upload(client, PERSON, k=2, regions="none")
    assert first.json()["safety"]["action"] == "flag"
    assert again.json()["timings_ms"].get("cache_hit") == 1.0 and again.json()["safety"]["action"] == "flag"
    assert strict.status_code == 422
    assert lax.status_code == 200 and lax.json()["safety"] is None  # not screened at all
    assert "safety" not in lax.json()["timings_ms"]


def test_catalog_photos_the_policy_refuses_are_left_out_at_ingest(make_runtime: Any, tmp_path: Path) -> None:
    from catalog_ingest import ingest_manifest
    from tests.images import clothing_photos

    garments = clothing_photos(2)
    manifest = tmp_path / "catalog.csv"
    rows = [f"{p.stem},{p},Item {p.stem},Brand,Shirt" for p in garments] + [
        f"person,{PERSON},A look,Brand,Dress"
    ]
    manifest.write_text("item_id,image,title,brand,category\n" + "\n".join(rows) + "\n")
    runtime = make_runtime(safety=SafetySettings(rules=REFUSE_FACES, catalog_photos=True))
    report = ingest_manifest(runtime.ingest_parts(), manifest, "screened", progress=False)
    assert report.loaded_items == 2, report.summary()
    [reject] = report.rejects
    assert reject.item_id == "person" and "FACE_FEMALE" in reject.reason
    assert make_runtime().ingest_parts().screen is None  # off by default
