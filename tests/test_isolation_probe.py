"""The isolation probe: every endpoint of the OpenAPI document, with every tenant key, against
every other tenant's catalog, item and job ids, answers exactly as it does for ids that do not
exist, and never shows another tenant's names, ids or data.

The endpoints come from the app's own OpenAPI document, so a new endpoint is probed without
anyone remembering to add it; one whose parameters the probe cannot fill fails the test.
Operator keys (the admin scope) see every tenant by design and are not probed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.tenancy_fixtures import World

pytest_plugins = ["tests.tenancy_fixtures"]

PROBED_KEYS = ("acme", "acme-search", "globex")
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Target:
    """Another tenant's identifiers to put in a request (None: the parameter is not about them)."""

    catalog: str
    item_id: str
    job_id: str
    tenant: str
    key_prefix: str


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, path, op) for path, ops in schema["paths"].items() for m, op in ops.items() if m in METHODS]


def fill_path(path: str, op: dict[str, Any], t: Target) -> str:
    values = {
        "catalog": t.catalog,
        "item_id": t.item_id,
        "position": "0",
        "job_id": t.job_id,
        "tenant": t.tenant,
        "prefix": t.key_prefix,
        "plan": "probe-plan",
    }
    for param in op.get("parameters", []):
        if param["in"] == "path" and param["name"] not in values:
            pytest.fail(
                f"the isolation probe cannot fill path parameter {param['name']!r} of {path}: teach it"
            )
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def request_kwargs(op: dict[str, Any], t: Target, photo: bytes) -> dict[str, Any]:
    """Query parameters and a body that reach the operation's own checks, naming ``t`` wherever a
    catalog is named."""
    query = {
        p["name"]: t.catalog
        for p in op.get("parameters", [])
        if p["in"] == "query" and p["name"] == "catalog"
    }
    content = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        props = content["multipart/form-data"]["schema"].get("properties", {})
        files = {
            name: (
                f"{name}.bin",
                photo if name == "image" else b"item_id,image\nx,https://example.invalid/a.jpg\n",
            )
            for name, prop in props.items()
            if prop.get("format") == "binary"
        }
        files = {
            k: (v[0].replace(".bin", ".csv") if k == "manifest" else v[0], v[1]) for k, v in files.items()
        }
        data = {"catalog": t.catalog} if "catalog" in props else {}
        return {"params": query, "files": files, "data": data}
    if "application/json" in content:
        body: dict[str, Any] = {}
        schema = content["application/json"]["schema"]
        if "catalog" in schema.get("properties", {}) or "name" in schema.get("required", []):
            body = {"name": t.catalog, "catalog": t.catalog}
        return {"params": query, "json": body}
    return {"params": query}


def normalised(text: str, placeholders: dict[str, str]) -> str:
    for value, placeholder in sorted(placeholders.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(value, placeholder)
    return re.sub(
        r'"(timings_ms|created_at|expires_at|id|prefix|secret)":\s*("[^"]*"|\{[^}]*\})', r'"\1": "*"', text
    )


def fresh(t: Target, mine: set[str]) -> Target:
    """Ids of the same shape that name nothing at all (a catalog name the prober owns stays: it is
    the prober's own catalog, and the probe is then about the other tenant's item ids in it)."""
    return Target(
        catalog=t.catalog if t.catalog in mine else f"none-{uuid.uuid4().hex[:8]}",
        item_id=f"item-{uuid.uuid4().hex[:8]}",
        job_id=uuid.uuid4().hex,
        tenant=f"none-{uuid.uuid4().hex[:8]}",
        key_prefix=uuid.uuid4().hex[:12],
    )


@pytest.fixture(scope="module")
def others(world: World) -> dict[str, list[Target]]:
    """For each probed key, every (catalog, item, job) of the other tenant, and its secrets."""
    queue = world.client.app.state.jobs  # type: ignore[attr-defined]
    jobs = {
        role: queue.submit("probe-job", {"catalog": "x"}, owner=slug).id
        for role, slug in world.tenants.items()
    }
    prefixes = {role: world.keys[role].split("_")[1] for role in ("acme", "globex")}
    targets: dict[str, list[Target]] = {}
    for key in PROBED_KEYS:
        me = key.split("-")[0]
        other = "globex" if me == "acme" else "acme"
        targets[key] = [
            Target(catalog, item, jobs[other], world.tenants[other], prefixes[other])
            for catalog, items in world.items[other].items()
            for item in items
        ]
    return targets


def forbidden(world: World, key: str) -> set[str]:
    """What a key must never read: the other tenant's id, item ids, brand, and catalog names it lacks."""
    me = key.split("-")[0]
    other = "globex" if me == "acme" else "acme"
    mine = set(world.items[me])
    storage = set(
        world.runtime.store.list_catalogs() and (c.name for c in world.runtime.store.list_catalogs())
    )
    return (
        {world.tenants[other], other}
        | {i for items in world.items[other].values() for i in items}
        | {c for c in world.items[other] if c not in mine}
        | {s for s in storage if s.startswith("t")}  # opaque storage names: nobody reads them
    )


def test_the_probe_finds_zero_leaks(world: World, others: dict[str, list[Target]]) -> None:
    schema = world.client.get("/openapi.json").json()
    ops = operations(schema)
    assert len(ops) >= 30, "the OpenAPI document lost its endpoints?"
    photo = world.photos[0].read_bytes()
    leaks: list[str] = []
    probed = 0
    for key in PROBED_KEYS:
        headers = world.as_(key)
        mine = set(world.items[key.split("-")[0]])
        never = forbidden(world, key)
        for method, path, op in ops:
            for target in others[key]:
                if "{item_id}" not in path and target.catalog in mine:
                    continue  # the other tenant's catalog has the name of one of mine: that one is mine
                control = fresh(target, mine)
                compare = fill_path(path, op, target) != fill_path(path, op, control) or "catalog" in str(
                    request_kwargs(op, target, photo)
                )
                answers = []
                for t in (target, control) if compare else (target,):
                    url = fill_path(path, op, t)
                    r = world.client.request(
                        method.upper(), url, headers=headers, **request_kwargs(op, t, photo)
                    )
                    marks = {
                        t.catalog: "<catalog>",
                        t.item_id: "<item>",
                        t.job_id: "<job>",
                        t.tenant: "<tenant>",
                        t.key_prefix: "<key>",
                    }
                    answers.append((r.status_code, normalised(r.text, marks), r))
                probed += 1
                (s1, b1, r1), (s2, b2, _) = answers if compare else answers * 2  # nothing of the target in it
                where = f"{key} {method.upper()} {path} -> {target.catalog}/{target.item_id}"
                if s1 != s2:
                    leaks.append(f"{where}: {s1} for the other tenant's ids, {s2} for ids that do not exist")
                elif b1 != b2:
                    leaks.append(f"{where}: the bodies differ:\n  {b1[:300]}\n  {b2[:300]}")
                sent = {target.catalog, target.item_id, target.tenant, target.job_id, target.key_prefix}
                shown = sorted(s for s in never - sent if s and s in r1.text)
                if shown:
                    leaks.append(f"{where}: the answer shows {shown}")
    assert probed > 100
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(leaks[:20])


def test_listing_endpoints_show_nothing_of_another_tenant(world: World) -> None:
    """Endpoints without ids (lists, usage, health, metrics) are probed for the other's names too."""
    schema = world.client.get("/openapi.json").json()
    for key in PROBED_KEYS:
        never = forbidden(world, key)
        for method, path, _ in operations(schema):
            if method != "get" or "{" in path:
                continue
            r = world.client.get(path, headers=world.as_(key))
            shown = sorted(s for s in never if s in r.text)
            assert not shown, f"{key} GET {path} ({r.status_code}) shows {shown}"
