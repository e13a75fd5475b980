"""Is a catalog's published index still on disk? A check cheap enough for every /readyz.

Loading verifies checksums; readiness cannot hash every catalog's files on each probe. It reads
CURRENT and the live version's manifest (cached: versions never change) and ``stat``s the files
the manifest names: a missing file, or one whose size differs from the size recorded at publish
(versions published before sizes were recorded: an empty file), is a reason. Delta segments are
checked the same way. Reasons name files and versions, never server paths.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from index.versions import (
    CURRENT_FILE,
    INDEX_FILE,
    MANIFEST_FILE,
    PAYLOAD_FILE,
    IndexStore,
    IndexVersionError,
)


def published_catalogs(store: IndexStore) -> list[str]:
    """Catalogs with a CURRENT pointer (an index was published once), by name."""
    try:
        entries = list(os.scandir(store.root))
    except FileNotFoundError:
        return []
    return sorted(
        e.name
        for e in entries
        if e.is_dir() and not e.name.startswith(".") and os.path.exists(os.path.join(e.path, CURRENT_FILE))
    )


def index_files_problem(store: IndexStore, catalog: str) -> str | None:
    """Why the live index of ``catalog`` could not load from disk, or None when its files are there."""
    version = store.current_version(catalog)
    if version is None:
        return None
    vdir = store.catalog_dir(catalog) / version
    try:
        expected = _expected_files(store, catalog, version, _mtime(vdir / MANIFEST_FILE))
    except FileNotFoundError:
        return f"CURRENT names index version {version}, which is not on disk; run `lookalike repair`"
    except IndexVersionError:
        return f"index version {version} has an unreadable manifest; run `lookalike repair`"
    problem = _files_problem(vdir, expected)
    if problem:
        return f"index version {version}: {problem}; run `lookalike repair`"
    for seq in store.segment_seqs(catalog, version):
        sdir = store.deltas_dir(catalog, version) / f"{seq:06d}"
        try:
            info = store.read_segment_info(catalog, version, seq)
        except IndexVersionError:
            return f"index version {version}: delta segment {seq} is unreadable; run `lookalike repair`"
        problem = _files_problem(sdir, _sizes(list(info.files), info.sizes))
        if problem:
            return f"index version {version}: delta segment {seq}: {problem}; run `lookalike repair`"
    return None


def _mtime(path: Path) -> int:
    return os.stat(path).st_mtime_ns


@lru_cache(maxsize=4096)
def _expected_files(store: IndexStore, catalog: str, version: str, mtime_ns: int) -> dict[str, int | None]:
    """File name -> size at publish (None: not recorded); keyed by the manifest's mtime."""
    manifest = store.read_manifest(catalog, version)
    names = list(manifest.files) or [INDEX_FILE, PAYLOAD_FILE]
    return _sizes(names, manifest.sizes)


def _sizes(names: list[str], sizes: dict[str, int]) -> dict[str, int | None]:
    return {name: sizes.get(name) for name in names}


def _files_problem(folder: Path, expected: dict[str, int | None]) -> str | None:
    missing: list[str] = []
    wrong: list[str] = []
    for name, size in expected.items():
        try:
            actual = os.stat(folder / name).st_size
        except FileNotFoundError:
            missing.append(name)
            continue
        if (size is None and actual == 0) or (size is not None and actual != size):
            wrong.append(f"{name} ({actual} bytes, published with {size if size is not None else 'more'})")
    if missing:
        return "missing " + ", ".join(missing)
    if wrong:
        return "wrong size: " + ", ".join(wrong)
    return None


__all__ = ["index_files_problem", "published_catalogs"]
