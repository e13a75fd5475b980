"""``lookalike index``: list, roll back and garbage-collect published index versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from index.versions import IndexStore, IndexVersionError
from lookalike.settings import load_settings

index_app = typer.Typer(no_args_is_help=True, help="Manage published index versions.")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
CatalogOpt = Annotated[str, typer.Option("--catalog", help="Catalog name.")]


def _store(config: Path | None) -> IndexStore:
    return IndexStore(load_settings(config).index_dir)


@index_app.command("list")
def list_versions(catalog: CatalogOpt = "demo", config: ConfigOpt = None) -> None:
    """Show every version of a catalog's index, newest last; '*' marks the live one."""
    store = _store(config)
    current = store.current_version(catalog)
    versions = store.versions(catalog)
    if not versions:
        typer.echo(f"catalog {catalog!r} has no published index")
        raise typer.Exit(1)
    for m in versions:
        mark = "*" if m.version == current else " "
        typer.echo(
            f"{mark} {m.version}  vectors={m.count} dim={m.dim} factory={m.factory} model={m.model_spec}"
        )


@index_app.command("rollback")
def rollback(
    catalog: CatalogOpt = "demo",
    to: Annotated[str | None, typer.Option("--to", help="Version; default: the one before CURRENT.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Point CURRENT at an earlier version; running servers pick it up on their next search."""
    store = _store(config)
    names = [m.version for m in store.versions(catalog)]
    current = store.current_version(catalog)
    if to is None:
        if current not in names or names.index(current) == 0:
            typer.echo(f"catalog {catalog!r} has no version before {current}", err=True)
            raise typer.Exit(1)
        to = names[names.index(current) - 1]
    try:
        store.load(catalog, to)  # verify before switching
        store.set_current(catalog, to)
    except IndexVersionError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{catalog}: CURRENT -> {to}")


@index_app.command("gc")
def gc(
    catalog: CatalogOpt = "demo",
    keep: Annotated[int, typer.Option(help="How many newest versions to keep besides CURRENT.")] = 2,
    config: ConfigOpt = None,
) -> None:
    """Delete old versions, always keeping CURRENT and the ``keep`` newest."""
    store = _store(config)
    current = store.current_version(catalog)
    versions = [m.version for m in store.versions(catalog)]
    protected = set(versions[-keep:] if keep > 0 else []) | {current}
    removed = [v for v in versions if v not in protected]
    for v in removed:
        store.remove(catalog, v)
    typer.echo(f"{catalog}: removed {len(removed)} version(s), kept {len(versions) - len(removed)}")
