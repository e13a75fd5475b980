"""Temporary files a writer leaves behind when it is killed mid-publish, found and swept.

Writers name their temporaries ``.publish-<pid>-*``, ``.segment-<pid>-*`` and ``.current-<pid>-*``:
one whose process is gone on this machine is an orphan (a partial ``index.faiss``, or nothing),
never a publish in progress. Temporaries without a pid (written before pids were added) count as
orphans once they are an hour old.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

TEMP_PREFIXES = (".publish-", ".segment-", ".current-")
_PID = re.compile(r"^\.(?:publish|segment|current)-(\d+)-")
UNNAMED_GRACE_S = 3600.0


def temp_prefix(kind: str) -> str:
    """``.publish-<pid>-``: the prefix a writer of this process gives its temporaries."""
    return f".{kind}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(path: Path, now: float) -> bool:
    match = _PID.match(path.name)
    if match is not None:
        return not _alive(int(match.group(1)))
    try:
        return now - path.stat().st_mtime > UNNAMED_GRACE_S
    except FileNotFoundError:
        return False


def find_orphans(catalog_dir: Path) -> list[Path]:
    """Orphaned temporaries of one catalog: beside its versions, and beside its delta segments."""
    if not catalog_dir.is_dir():
        return []
    now = time.time()
    places = [catalog_dir]
    deltas = catalog_dir / "deltas"
    if deltas.is_dir():
        places += [d for d in deltas.iterdir() if d.is_dir()]
    return sorted(
        p
        for place in places
        for p in place.iterdir()
        if p.name.startswith(TEMP_PREFIXES) and _orphaned(p, now)
    )


def remove_orphans(catalog_dir: Path) -> list[Path]:
    """Delete the orphans of one catalog; returns what was removed."""
    removed = []
    for path in find_orphans(catalog_dir):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


__all__ = ["TEMP_PREFIXES", "find_orphans", "remove_orphans", "temp_prefix"]
