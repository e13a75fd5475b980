"""``lookalike check`` / ``repair``: compare the catalog rows, the index versions and the files.

Findings are errors (search is or may become wrong: a corrupt or missing version, vectors without
rows, rows without vectors, an orphaned temporary) or notes (versions kept beyond retention).
``repair`` fixes what it can, in a safe order: sweep orphans, point CURRENT at a version that
verifies, drop corrupt versions, bring the index in line with the rows (one publish), drop
versions beyond retention.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from catalog import CatalogStore
from catalog_ingest.publish import catalog_payload, diff_rows, publish_catalog_index
from index import IndexStore, IndexVersionError
from index.orphans import find_orphans, remove_orphans
from lookalike.errors import UnknownCatalogError
from lookalike.settings import IndexSettings

ERROR, NOTE = "error", "note"


@dataclass(frozen=True)
class Finding:
    catalog: str
    kind: str
    severity: str
    detail: str
    repair: str
    """What ``lookalike repair`` does about it ("" when it cannot: say what to do instead in detail)."""


@dataclass
class Audit:
    findings: list[Finding] = field(default_factory=list)
    items: dict[str, int] = field(default_factory=dict)
    """Items per catalog (the store's count), printed by ``check``."""

    @property
    def clean(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def add(self, catalog: str, kind: str, severity: str, detail: str, repair: str = "") -> None:
        self.findings.append(Finding(catalog, kind, severity, detail, repair))


def catalogs_of(store: CatalogStore, index_store: IndexStore) -> list[str]:
    names = {c.name for c in store.list_catalogs()}
    if index_store.root.is_dir():
        names |= {d.name for d in index_store.root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    return sorted(names)


def check(
    store: CatalogStore,
    index_store: IndexStore,
    catalogs: Sequence[str] | None = None,
    *,
    keep: int = 2,
) -> Audit:
    """Every finding for these catalogs (default: all the store and the index folder know)."""
    audit = Audit()
    for catalog in catalogs or catalogs_of(store, index_store):
        _check_catalog(store, index_store, catalog, keep, audit)
    return audit


def _check_catalog(
    store: CatalogStore, index_store: IndexStore, catalog: str, keep: int, audit: Audit
) -> None:
    cdir = index_store.catalog_dir(catalog)
    for orphan in find_orphans(cdir):
        where = orphan.relative_to(index_store.root)
        audit.add(catalog, "orphan", ERROR, f"temporary {where} left by a writer that is gone", "delete it")
    try:
        audit.items[catalog] = store.get_catalog(catalog).item_count
    except UnknownCatalogError:
        audit.items[catalog] = 0
    versions = [m.version for m in index_store.versions(catalog)]
    current = index_store.current_version(catalog)
    good: list[str] = []
    for version in versions:
        try:
            index_store.verify(catalog, version)
            for seq in index_store.segment_seqs(catalog, version):
                index_store.read_segment_info(catalog, version, seq)
            good.append(version)
        except IndexVersionError as exc:
            what = "the live version" if version == current else "an old version"
            fix = (
                "point CURRENT at the newest good version, then delete it"
                if version == current
                else "delete it"
            )
            audit.add(catalog, "corrupt-version", ERROR, f"{version} ({what}): {_short(exc)}", fix)
    if current is None and versions:
        audit.add(
            catalog,
            "no-current",
            ERROR,
            "versions exist but none is live",
            "point CURRENT at the newest good one",
        )
    elif current is not None and current not in versions:
        audit.add(
            catalog,
            "missing-current",
            ERROR,
            f"CURRENT names {current}, which is not on disk",
            "point CURRENT at the newest good version",
        )
    if audit.items[catalog] and current is not None and current in good:
        _compare_rows(store, index_store, catalog, audit)
    elif audit.items[catalog] and not versions:
        audit.add(
            catalog, "no-index", ERROR, f"{audit.items[catalog]} items but no index version", "publish one"
        )
    stale = [v for v in versions if v != current and v not in versions[-keep:]] if keep >= 0 else []
    if stale:
        audit.add(
            catalog,
            "stale-versions",
            NOTE,
            f"{len(stale)} versions beyond the newest {keep} and CURRENT",
            "delete them",
        )


def _compare_rows(store: CatalogStore, index_store: IndexStore, catalog: str, audit: Audit) -> None:
    live = index_store.load_live(catalog)
    model_spec = index_store.read_manifest(catalog, live.base_version).model_spec
    _, wanted = catalog_payload(store, catalog, model_spec, with_vectors=False)
    current = live.live_payload()
    diff = diff_rows(current, wanted)
    orphan_vectors = np.setdiff1d(current.vector_ids, wanted.vector_ids)
    missing = np.setdiff1d(wanted.vector_ids, current.vector_ids)
    changed = len(diff.add_rows) - len(missing)
    if len(orphan_vectors):
        items = sorted(
            set(
                current.take(np.flatnonzero(np.isin(current.vector_ids, orphan_vectors)))
                .item.decode()
                .tolist()
            )
        )
        audit.add(
            catalog,
            "vectors-without-rows",
            ERROR,
            f"{len(orphan_vectors)} indexed vectors whose rows are gone (items {_few(items)})",
            "republish the index from the rows",
        )
    if len(missing):
        items = sorted(
            set(wanted.take(np.flatnonzero(np.isin(wanted.vector_ids, missing))).item.decode().tolist())
        )
        audit.add(
            catalog,
            "rows-without-vectors",
            ERROR,
            f"{len(missing)} region rows not in the index (items {_few(items)}): search cannot find them",
            "republish the index from the rows",
        )
    if changed > 0:
        audit.add(
            catalog,
            "stale-payload",
            ERROR,
            f"{changed} indexed rows filter on old metadata (price, brand...)",
            "republish the index",
        )
    unindexed = audit.items[catalog] - len(set(wanted.item.decode().tolist()))
    if unindexed > 0:
        audit.add(
            catalog,
            "items-without-vectors",
            ERROR,
            f"{unindexed} items have no region vectors for {model_spec!r} (their images never embedded); "
            "ingest their manifest again",
            "",
        )


def repair(
    store: CatalogStore,
    index_store: IndexStore,
    audit: Audit,
    settings: IndexSettings,
    *,
    keep: int = 2,
    say: Callable[[str], None] = print,
) -> None:
    """Fix every finding ``repair`` can, catalog by catalog, saying what it does."""
    for catalog in sorted({f.catalog for f in audit.findings}):
        kinds = {f.kind for f in audit.findings if f.catalog == catalog}
        cdir = index_store.catalog_dir(catalog)
        for path in remove_orphans(cdir):
            say(f"{catalog}: deleted {path.relative_to(index_store.root)}")
        versions = [m.version for m in index_store.versions(catalog)]
        good = [v for v in versions if _verifies(index_store, catalog, v)]
        current = index_store.current_version(catalog)
        if good and (current not in good):
            index_store.set_current(catalog, good[-1])
            say(f"{catalog}: CURRENT -> {good[-1]}")
        for version in versions:
            if version not in good and version != index_store.current_version(catalog):
                index_store.remove(catalog, version)
                say(f"{catalog}: deleted corrupt version {version}")
        # Compare the rows again: the version now live may be an older one than the check saw.
        kinds |= {f.kind for f in check(store, index_store, [catalog], keep=keep).findings}
        if kinds & {"vectors-without-rows", "rows-without-vectors", "stale-payload", "no-index"}:
            model_spec = _model_spec(index_store, catalog, good)
            if model_spec is not None:
                result = publish_catalog_index(
                    store,
                    index_store,
                    catalog,
                    model_spec=model_spec,
                    factory=settings.factory,
                    use_gpu=settings.use_gpu == "auto",
                    settings=settings,
                )
                say(f"{catalog}: index -> {result.version} ({result.mode}, {result.count} vectors)")
            else:
                say(f"{catalog}: no good version to learn the model from: run lookalike ingest")
        if "stale-versions" in kinds:
            current = index_store.current_version(catalog)
            versions = [m.version for m in index_store.versions(catalog)]
            for version in versions:
                if version != current and version not in versions[-keep:]:
                    index_store.remove(catalog, version)
                    say(f"{catalog}: deleted old version {version}")


def _verifies(index_store: IndexStore, catalog: str, version: str) -> bool:
    try:
        index_store.verify(catalog, version)
        return True
    except IndexVersionError:
        return False


def _model_spec(index_store: IndexStore, catalog: str, good: list[str]) -> str | None:
    return index_store.read_manifest(catalog, good[-1]).model_spec if good else None


def _few(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _short(exc: Exception) -> str:
    text = str(exc)
    root = str(exc).split(": ", 1)
    return root[1] if len(root) == 2 and root[0].startswith("/") else text


__all__ = ["ERROR", "NOTE", "Audit", "Finding", "catalogs_of", "check", "repair"]
