"""lookalike index: index versions (list, rollback, gc, compact) and changes to a published
catalog (delete, update, sync).

Adding items is lookalike ingest: once a catalog's base is big (index.delta_min_base), a small
ingest appends a delta segment instead of rebuilding. delete and update change the catalog rows
and append a segment at once; running servers pick it up within a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from catalog import CatalogStore
from catalog_ingest.maintenance import delete_items, live_model_spec, sync_catalog, update_item
from cli.options import ConfigOpt, group
from index import IndexStore, IndexVersionError
from index.compaction import compact as compact_catalog
from lookalike.errors import UnknownCatalogError
from lookalike.items import METADATA_FIELDS, METADATA_TYPES
from lookalike.settings import Settings, load_settings

index_app = group("Manage published index versions, and change a published catalog in place.")

CatalogOpt = Annotated[str, typer.Option("--catalog", metavar="TEXT", help="Catalog name.")]


def _store(config: Path | None) -> IndexStore:
    return IndexStore(load_settings(config).index_dir)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


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
        segs = store.segments(catalog, m.version)
        delta = f" segments={len(segs)} (+{sum(s.added for s in segs)} -{sum(s.removed for s in segs)})"
        typer.echo(
            f"{mark} {m.version}  vectors={m.count} dim={m.dim} factory={m.factory} model={m.model_spec}"
            + (delta if segs else "")
        )


@index_app.command("rollback")
def rollback(
    catalog: CatalogOpt = "demo",
    to: Annotated[
        str | None, typer.Option("--to", metavar="TEXT", help="Version; default: the one before CURRENT.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Point CURRENT at an earlier version; running servers pick it up within a second."""
    store = _store(config)
    names = [m.version for m in store.versions(catalog)]
    current = store.current_version(catalog)
    if to is None:
        if current not in names or names.index(current) == 0:
            raise _fail(f"catalog {catalog!r} has no version before {current}")
        to = names[names.index(current) - 1]
    try:
        store.load_live(catalog) if to == current else store.load(catalog, to)  # verify before switching
        store.set_current(catalog, to)
    except IndexVersionError as exc:
        raise _fail(f"refused: {exc}") from exc
    typer.echo(f"{catalog}: CURRENT -> {to}")


@index_app.command("gc")
def gc(
    catalog: CatalogOpt = "demo",
    keep: Annotated[
        int, typer.Option(metavar="N", help="How many newest versions to keep besides CURRENT.")
    ] = 2,
    config: ConfigOpt = None,
) -> None:
    """Delete old versions (and their delta segments), always keeping CURRENT and the --keep newest."""
    store = _store(config)
    current = store.current_version(catalog)
    versions = [m.version for m in store.versions(catalog)]
    protected = set(versions[-keep:] if keep > 0 else []) | {current}
    removed = [v for v in versions if v not in protected]
    for v in removed:
        store.remove(catalog, v)
    typer.echo(f"{catalog}: removed {len(removed)} version(s), kept {len(versions) - len(removed)}")


@index_app.command("compact")
def compact(
    catalog: CatalogOpt = "demo",
    force: Annotated[bool, typer.Option(help="Rebuild even without delta segments.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Fold the delta segments into a new base version (index chosen for the new size)."""
    settings = load_settings(config)
    s = settings.index
    try:
        manifest = compact_catalog(
            IndexStore(settings.index_dir),
            catalog,
            factory=s.factory,
            memory_budget_mb=s.memory_budget_mb,
            pca_dim=s.pca_dim,
            use_gpu=s.use_gpu == "auto",
            force=force,
        )
    except IndexVersionError as exc:
        raise _fail(f"refused: {exc}") from exc
    if manifest is None:
        typer.echo(f"{catalog}: no delta segments, nothing to compact")
        return
    typer.echo(f"{catalog}: CURRENT -> {manifest.version} ({manifest.count} vectors, {manifest.factory})")


def _catalog(config: Path | None, catalog: str) -> tuple[Settings, CatalogStore, IndexStore]:
    """The settings, catalog store and index store of a catalog that has a published index."""
    settings = load_settings(config)
    index_store = IndexStore(settings.index_dir)
    try:
        live_model_spec(index_store, catalog)
    except UnknownCatalogError as exc:
        raise _fail(exc.detail) from exc
    store = CatalogStore(settings.db_url)
    store.migrate()
    return settings, store, index_store


@index_app.command("delete")
def delete(
    item_ids: Annotated[list[str], typer.Argument(metavar="ITEM_ID...", help="Item ids to delete.")],
    catalog: CatalogOpt = "demo",
    config: ConfigOpt = None,
) -> None:
    """Delete items from the catalog and hide them from search at once (a tombstone segment)."""
    _, store, index_store = _catalog(config, catalog)
    deleted, result = delete_items(store, index_store, catalog, item_ids)
    missing = sorted(set(item_ids) - set(deleted))
    typer.echo(f"{catalog}: deleted {len(deleted)} item(s); index {result.version} ({result.count} vectors)")
    if missing:
        raise _fail(f"not in catalog {catalog!r}: {', '.join(missing)}")


def parse_assignment(text: str) -> tuple[str, Any]:
    """name=value: the value is read as JSON when it parses (12.5, true, null), else as text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"{text!r} is not name=value")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, list | dict):
        raise typer.BadParameter(f"{name}: only text, number, boolean or null values")
    if (
        METADATA_TYPES.get(name.strip()) is float
        and value is not None
        and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0)
    ):
        raise typer.BadParameter(f"{name.strip()} {raw!r} must be a number >= 0")
    return name.strip(), value


@index_app.command("update")
def update(
    item_id: Annotated[str, typer.Argument(metavar="ITEM_ID", help="Item to change.")],
    assignments: Annotated[
        list[str],
        typer.Option(
            "--set",
            metavar="NAME=VALUE",
            help=f"name=value: {', '.join(METADATA_FIELDS)} or any attribute (e.g. in_stock=false); "
            "null clears.",
        ),
    ],
    catalog: CatalogOpt = "demo",
    config: ConfigOpt = None,
) -> None:
    """Change an item's metadata; filters see it at once (its vectors are re-added with the new payload)."""
    changes = dict(parse_assignment(a) for a in assignments)
    _, store, index_store = _catalog(config, catalog)
    record, result = update_item(store, index_store, catalog, item_id, changes)
    typer.echo(f"{catalog}: updated {record.item_id}; index {result.version}")


@index_app.command("sync")
def sync(
    catalog: CatalogOpt = "demo",
    item: Annotated[
        list[str] | None, typer.Option("--item", metavar="ITEM_ID", help="Only these items (default: all).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Bring the index in line with the catalog store: a delta segment for a small change, else a rebuild."""
    settings, store, index_store = _catalog(config, catalog)
    result = sync_catalog(store, index_store, catalog, settings.index, item)
    typer.echo(f"{catalog}: {result.mode}; index {result.version} ({result.count} vectors)")
