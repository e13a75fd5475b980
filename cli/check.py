"""lookalike check / repair / gc: is the catalog what its index says, and fix it when it is not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import ConfigOpt

if TYPE_CHECKING:
    from catalog import CatalogStore
    from index import IndexStore
    from lookalike.settings import Settings

CatalogsOpt = Annotated[
    list[str] | None,
    typer.Option("--catalog", "-c", metavar="TEXT", help="Catalog to look at (repeatable; default: all)."),
]
KeepOpt = Annotated[
    int, typer.Option("--keep", metavar="N", help="Versions kept besides CURRENT before old ones are noted.")
]


def _parts(config: Path | None) -> tuple[Settings, CatalogStore, IndexStore]:
    from catalog import CatalogStore
    from index import IndexStore
    from lookalike.settings import load_settings

    settings = load_settings(config)
    return settings, CatalogStore(settings.db_url), IndexStore(settings.index_dir)


def check(catalog: CatalogsOpt = None, keep: KeepOpt = 2, config: ConfigOpt = None) -> None:
    """Compare the catalog rows, the index versions and their files; print what is wrong.

    Checks checksums, CURRENT, orphaned temporary folders of killed publishes, vectors without
    rows and rows without vectors, metadata the index filters on, and versions beyond --keep.
    Exit 0 when nothing is wrong (notes allowed), 1 otherwise; `lookalike repair` fixes it.
    """
    from catalog_ingest.audit import check as run_check

    _, store, index_store = _parts(config)
    audit = run_check(store, index_store, catalog, keep=keep)
    for name, count in sorted(audit.items.items()):
        problems = [f for f in audit.findings if f.catalog == name]
        state = "clean" if not any(f.severity == "error" for f in problems) else "NOT CLEAN"
        typer.echo(f"{name}: {count} items, {state}")
        for f in problems:
            fix = f" -> repair: {f.repair}" if f.repair else ""
            typer.echo(f"  {f.severity}: {f.kind}: {f.detail}{fix}")
    if not audit.items:
        typer.echo("no catalogs")
    raise typer.Exit(0 if audit.clean else 1)


def repair(
    catalog: CatalogsOpt = None,
    keep: KeepOpt = 2,
    apply: Annotated[
        bool, typer.Option("--apply", help="Do it (default: a dry run that prints the plan).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Fix what `lookalike check` finds: a dry run unless --apply."""
    from catalog_ingest.audit import check as run_check
    from catalog_ingest.audit import repair as run_repair

    settings, store, index_store = _parts(config)
    audit = run_check(store, index_store, catalog, keep=keep)
    fixable = [f for f in audit.findings if f.repair]
    if not fixable:
        typer.echo("nothing to repair" + ("" if audit.clean else "; see lookalike check for the rest"))
        raise typer.Exit(0 if audit.clean else 1)
    for f in fixable:
        typer.echo(f"{f.catalog}: {f.kind}: {f.repair}")
    if not apply:
        typer.echo("dry run: nothing changed; run again with --apply")
        return
    run_repair(store, index_store, audit, settings.index, keep=keep, say=typer.echo)
    after = run_check(store, index_store, catalog, keep=keep)
    typer.echo("clean" if after.clean else "still not clean: run lookalike check")
    raise typer.Exit(0 if after.clean else 1)


def gc(catalog: CatalogsOpt = None, config: ConfigOpt = None) -> None:
    """Delete orphaned temporary folders left by killed publishes (old versions: lookalike index gc)."""
    from catalog_ingest.audit import catalogs_of
    from index.orphans import remove_orphans

    _, store, index_store = _parts(config)
    removed = 0
    for name in catalog or catalogs_of(store, index_store):
        for path in remove_orphans(index_store.catalog_dir(name)):
            typer.echo(f"deleted {path.relative_to(index_store.root)}")
            removed += 1
    typer.echo(f"removed {removed} orphaned temporar{'y' if removed == 1 else 'ies'}")
