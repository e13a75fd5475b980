"""lookalike tenants: the operator's first key, plans, tenants, keys and catalog adoption."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog import CatalogStore
from cli.main import app
from tenancy import TenancyStore


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path))

    def invoke(*args: str, ok: bool = True) -> tuple[str, str]:
        result = CliRunner().invoke(app, ["tenants", *args])
        assert (result.exit_code == 0) == ok, result.output
        return result.stdout, result.stderr

    return invoke


def store(tmp_path: Path) -> TenancyStore:
    return TenancyStore(CatalogStore(f"sqlite:///{tmp_path / 'lookalike.db'}").engine)


def test_an_operator_bootstraps_plans_tenants_and_keys(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    admin, _ = run("key", "--admin", "--name", "ops")
    run("plan", "starter", "--rate", "5", "--burst", "10", "--monthly-searches", "1000", "--max-items", "500")
    run("create", "acme", "--plan", "starter", "--name", "Acme Inc")
    secret, shown = run("key", "acme", "--scope", "search", "--scope", "catalog:write")
    out, _ = run("list")
    assert "acme" in out and "plan=starter" in out
    caller = store(tmp_path).authenticate(secret.strip())
    assert caller is not None and caller.tenant == "acme" and caller.plan is not None
    assert caller.scopes == {"search", "catalog:write"} and caller.plan.rate_per_s == 5
    operator = store(tmp_path).authenticate(admin.strip())
    assert operator is not None and operator.tenant is None and "admin" in operator.scopes
    prefix = shown.split()[0]
    assert secret.strip() not in run("keys", "acme")[0]
    successor, _ = run("rotate", prefix, "--overlap-s", "0")
    assert store(tmp_path).authenticate(secret.strip()) is None
    assert store(tmp_path).authenticate(successor.strip()) is not None
    run("revoke", successor.split("_")[1])
    assert store(tmp_path).authenticate(successor.strip()) is None


def test_mistakes_are_one_line_errors(run) -> None:  # type: ignore[no-untyped-def]
    run("key", ok=False)
    run("create", "Bad Name", ok=False)
    run("create", "x", "--plan", "missing", ok=False)
    run("adopt", "nothing", "--tenant", "x", ok=False)


def test_a_catalog_loaded_from_the_command_line_is_adopted_by_a_tenant(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    catalogs = CatalogStore(f"sqlite:///{tmp_path / 'lookalike.db'}")
    catalogs.migrate()
    catalogs.ensure_catalog("demo")
    run("create", "acme")
    run("adopt", "demo", "--tenant", "acme", "--as", "shop")
    t = store(tmp_path)
    assert t.catalogs() == {"demo": ("acme", "shop")}
    run("adopt", "demo", "--tenant", "acme", ok=False)  # one tenant per catalog
