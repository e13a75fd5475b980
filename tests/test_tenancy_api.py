"""Tenants and keys over HTTP: who may call, what each key sees, rotation, revocation, plans,
quotas at their boundary and the usage meter, on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.tenancy_fixtures import World

pytest_plugins = ["tests.tenancy_fixtures"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def search(w: World, headers: dict[str, str], catalog: str = "shoes", n: int = 0) -> object:
    return w.client.post(
        "/v1/search",
        files={"image": ("q.jpg", w.photos[n].read_bytes(), "image/jpeg")},
        data={"catalog": catalog, "k": "5"},
        headers=headers,
    )


def test_no_key_or_a_wrong_one_is_401_with_a_bearer_challenge(world: World) -> None:
    for headers in ({}, bearer("lk_000000000000_" + "x" * 43), {"X-API-Key": "nonsense"}):
        r = world.client.get("/v1/catalogs", headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["content-type"] == "application/problem+json"


def test_a_key_works_as_bearer_or_x_api_key_and_lists_only_its_catalogs(world: World) -> None:
    for headers in (world.as_("acme"), {"X-API-Key": world.keys["acme"]}):
        r = world.client.get("/v1/catalogs", headers=headers)
        assert r.status_code == 200
        assert [c["name"] for c in r.json()["catalogs"]] == ["shoes"]
    names = sorted(
        c["name"] for c in world.client.get("/v1/catalogs", headers=world.as_("globex")).json()["catalogs"]
    )
    assert names == ["boots", "shoes"]


def test_two_tenants_each_search_their_own_catalog_of_the_same_name(world: World) -> None:
    for role, photo in (("acme", 0), ("globex", 3)):
        r = search(world, world.as_(role), n=photo)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["catalog"] == "shoes"
        found = {m["item_id"] for region in body["regions"] for m in region["matches"]}
        assert found and found <= set(world.items[role]["shoes"])
        # The top match is the photo itself, and its image link names the tenant's own catalog.
        top = body["regions"][0]["matches"][0]
        assert top["score"] > 0.99
        assert "/v1/catalogs/shoes/items/" in top["image_url"]
        assert world.client.get(top["image_url"], headers=world.as_(role)).status_code == 200
    # The same screenshot, just searched (and cached) by acme: globex still sees only its own items.
    r = search(world, world.as_("globex"), n=0)
    found = {m["item_id"] for region in r.json()["regions"] for m in region["matches"]}
    assert found and found <= set(world.items["globex"]["shoes"])


def test_another_tenants_catalog_is_404_like_one_that_does_not_exist(world: World) -> None:
    acme = world.as_("acme")
    theirs = world.client.get("/v1/catalogs/boots/items", headers=acme)
    nobody = world.client.get("/v1/catalogs/nowhere/items", headers=acme)
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["detail"].replace("boots", "X") == nobody.json()["detail"].replace("nowhere", "X")
    item = world.items["globex"]["shoes"][0]
    r = world.client.get(f"/v1/catalogs/shoes/items/{item}", headers=acme)
    assert r.status_code == 404 and world.tenants["globex"] not in r.text


def test_scopes_a_search_key_cannot_write_and_a_tenant_key_cannot_administer(world: World) -> None:
    r = world.upsert(world.as_("acme-search"), "shoes", "new", world.photos[0])
    assert r.status_code == 403 and "catalog:write" in r.json()["detail"]
    assert search(world, world.as_("acme-search")).status_code == 200
    assert world.client.get("/v1/admin/tenants", headers=world.as_("acme")).status_code == 403


def test_catalog_detail_reports_items_index_version_and_index_time(world: World) -> None:
    r = world.client.get("/v1/catalogs/boots", headers=world.as_("globex"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "boots" and body["item_count"] == 2
    assert body["index_version"] and body["index_time"]


def test_upsert_replaces_metadata_and_delete_hides_the_item_from_search(world: World) -> None:
    w, acme = world, world.as_("acme")
    r = w.client.post("/v1/catalogs", json={"name": "scratch"}, headers=acme)
    assert r.status_code == 201
    assert w.client.post("/v1/catalogs", json={"name": "scratch"}, headers=acme).status_code == 409
    assert w.upsert(acme, "scratch", "a", w.photos[7], brand="Old").status_code == 200
    r = w.client.put("/v1/catalogs/scratch/items/a", json={"brand": "New", "price": 5}, headers=acme)
    assert r.status_code == 200, r.text
    item = w.client.get("/v1/catalogs/scratch/items/a", headers=acme).json()
    assert (item["brand"], item["price"], item["title"]) == ("New", 5.0, None)
    assert search(w, acme, "scratch", n=7).json()["regions"][0]["matches"][0]["item_id"] == "a"
    assert w.client.delete("/v1/catalogs/scratch/items/a", headers=acme).status_code == 204
    assert w.client.get("/v1/catalogs/scratch/items/a", headers=acme).status_code == 404
    matches = search(w, acme, "scratch", n=7).json()["regions"][0]["matches"]
    assert all(m["item_id"] != "a" for m in matches)
    assert w.client.delete("/v1/catalogs/scratch", headers=acme).status_code == 204
    assert w.client.get("/v1/catalogs/scratch", headers=acme).status_code == 404


def test_bad_upserts_are_4xx_naming_the_problem(world: World) -> None:
    w, acme = world, world.as_("acme")
    r = w.client.put("/v1/catalogs/shoes/items/fresh", json={"title": "no image"}, headers=acme)
    assert r.status_code == 422 and "needs at least one image" in r.json()["detail"]
    r = w.client.put("/v1/catalogs/shoes/items/x", json={"images": [{"base64": "!!!"}]}, headers=acme)
    assert r.status_code == 422 and "base64" in r.json()["detail"]
    r = w.client.put("/v1/catalogs/shoes/items/x", json={"images": [{"url": "ftp://a/b.jpg"}]}, headers=acme)
    assert r.status_code == 422
    inside = {"images": [{"url": "http://127.0.0.1:9/secret.jpg"}]}  # the server's own network
    r = w.client.put("/v1/catalogs/shoes/items/x", json=inside, headers=acme)
    assert r.status_code == 200 and r.json()["images_added"] == 0, r.text
    assert (
        "not allowed" in r.json()["rejects"][0]["reason"] or "non-public" in r.json()["rejects"][0]["reason"]
    )
    r = w.client.put("/v1/catalogs/shoes/items/x", json={"colour": "red"}, headers=acme)
    assert r.status_code == 422 and "colour" in r.text
    not_image = {"images": [{"base64": "aGVsbG8="}]}
    r = w.client.put("/v1/catalogs/shoes/items/x", json=not_image, headers=acme)
    assert r.status_code == 200 and r.json()["rejects"] and r.json()["images_added"] == 0


def test_rotation_keeps_the_old_key_for_the_overlap_and_revocation_is_immediate(world: World) -> None:
    w = world
    slug, old = w.new_tenant()
    prefix = old.split("_")[1]
    r = w.client.post(f"/v1/admin/keys/{prefix}/rotate", json={"overlap_s": 3600}, headers=w.admin_headers())
    assert r.status_code == 201, r.text
    new = r.json()["secret"]
    assert new != old and r.json()["scopes"] == ["search", "catalog:read", "catalog:write"]
    for key in (old, new):
        assert w.client.get("/v1/catalogs", headers=bearer(key)).status_code == 200
    # A tenant rotates its own key with no overlap: the calling key stops at once, the new one works.
    r = w.client.post("/v1/keys/self/rotate", json={"overlap_s": 0}, headers=bearer(new))
    assert r.status_code == 201
    newest = r.json()["secret"]
    time.sleep(0.01)
    assert w.client.get("/v1/catalogs", headers=bearer(new)).status_code == 401
    assert w.client.get("/v1/catalogs", headers=bearer(newest)).status_code == 200
    r = w.client.delete(f"/v1/admin/keys/{newest.split('_')[1]}", headers=w.admin_headers())
    assert r.status_code == 200 and r.json()["active"] is False
    assert w.client.get("/v1/catalogs", headers=bearer(newest)).status_code == 401
    keys = w.client.get(f"/v1/admin/tenants/{slug}/keys", headers=w.admin_headers()).json()["keys"]
    assert [k["active"] for k in keys] == [True, False, False]
    assert all("secret" not in k for k in keys)


def test_plan_size_limits_refuse_at_the_boundary_naming_the_limit(world: World) -> None:
    w = world
    _, key = w.new_tenant(plan={"max_catalogs": 1, "max_items": 2})
    assert w.client.post("/v1/catalogs", json={"name": "one"}, headers=bearer(key)).status_code == 201
    r = w.client.post("/v1/catalogs", json={"name": "two"}, headers=bearer(key))
    assert r.status_code == 403 and r.json()["limit"] == "max_catalogs" and r.json()["limit_value"] == 1
    for n in range(2):
        assert w.upsert(bearer(key), "one", f"i{n}", w.photos[n]).status_code == 200
    assert w.upsert(bearer(key), "one", "i0", w.photos[2]).status_code == 200  # an update adds no item
    r = w.upsert(bearer(key), "one", "i2", w.photos[2])
    assert r.status_code == 403 and r.json()["limit"] == "max_items"
    assert w.client.get("/v1/catalogs/one", headers=bearer(key)).json()["item_count"] == 2


def test_limits_beyond_what_the_database_or_the_calendar_holds_are_422_not_500(world: World) -> None:
    """Found by the fuzzer: a plan limit over a 32-bit INTEGER and a key living past year 9999 were 500s."""
    w = world
    r = w.client.put("/v1/admin/plans/huge", json={"max_items": 2**31}, headers=w.admin_headers())
    assert r.status_code == 422 and "max_items" in r.text
    slug, _ = w.new_tenant()
    r = w.client.post(
        f"/v1/admin/tenants/{slug}/keys", json={"expires_in_s": 1e12}, headers=w.admin_headers()
    )
    assert r.status_code == 422 and "expires_in_s" in r.text


def test_plan_models_refuse_a_catalog_on_another_embedder(world: World) -> None:
    _, key = world.new_tenant(plan={"models": ["open_clip:ViT-B-32"]})
    r = world.client.post("/v1/catalogs", json={"name": "c"}, headers=bearer(key))
    assert r.status_code == 403 and r.json()["limit"] == "models"


def test_monthly_allowance_refuses_the_search_after_the_last_and_meters_it(world: World) -> None:
    w = world
    slug, key = w.new_tenant(plan={"monthly_searches": 2})
    w.client.post("/v1/catalogs", json={"name": "shoes"}, headers=bearer(key))
    assert w.upsert(bearer(key), "shoes", "a", w.photos[0]).status_code == 200
    assert [search(w, bearer(key)).status_code for _ in range(2)] == [200, 200]
    r = search(w, bearer(key))
    assert r.status_code == 429 and r.json()["limit"] == "monthly_searches"
    assert int(r.headers["retry-after"]) >= 1
    usage = w.client.get("/v1/usage", headers=bearer(key)).json()
    assert usage["searches"] == 2 and usage["monthly_searches_used"] == 2
    assert usage["monthly_searches_allowed"] == 2
    assert usage["images_ingested"] == 1 and usage["days"][-1]["items_stored"] == 1
    admin_view = w.client.get(f"/v1/admin/tenants/{slug}/usage", headers=w.admin_headers()).json()
    assert admin_view["searches"] == 2


def test_rate_over_the_burst_is_429_with_retry_after(world: World) -> None:
    w = world
    _, key = w.new_tenant(plan={"rate_per_s": 0.5, "burst": 3})
    codes = [w.client.get("/v1/catalogs", headers=bearer(key)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = w.client.get("/v1/catalogs", headers=bearer(key))
    assert r.status_code == 429 and r.json()["limit"] == "rate_per_s"
    assert 1 <= int(r.headers["retry-after"]) <= 2


def test_deleting_a_tenant_removes_its_keys_catalogs_and_indexes(world: World) -> None:
    w = world
    slug, key = w.new_tenant()
    w.client.post("/v1/catalogs", json={"name": "gone"}, headers=bearer(key))
    assert w.upsert(bearer(key), "gone", "a", w.photos[0]).status_code == 200
    before = {c.name for c in w.runtime.store.list_catalogs()}
    assert w.client.delete(f"/v1/admin/tenants/{slug}", headers=w.admin_headers()).status_code == 204
    assert w.client.get("/v1/catalogs", headers=bearer(key)).status_code == 401
    (storage,) = before - {c.name for c in w.runtime.store.list_catalogs()}
    assert not w.runtime.index_store.catalog_dir(storage).exists()
    assert w.client.get(f"/v1/admin/tenants/{slug}", headers=w.admin_headers()).status_code == 404


def test_a_plan_change_applies_at_the_next_request(world: World) -> None:
    w = world
    slug, key = w.new_tenant(plan={"max_catalogs": 0})
    assert w.client.post("/v1/catalogs", json={"name": "c"}, headers=bearer(key)).status_code == 403
    plan = w.client.get(f"/v1/admin/tenants/{slug}", headers=w.admin_headers()).json()["plan"]["name"]
    r = w.client.put(f"/v1/admin/plans/{plan}", json={"max_catalogs": 1}, headers=w.admin_headers())
    assert r.status_code == 200
    assert w.client.post("/v1/catalogs", json={"name": "c"}, headers=bearer(key)).status_code == 201
