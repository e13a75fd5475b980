"""What every benchmark generator shares: where the data is, and writing the two index files."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.benchmark import CATALOG_FILE, QUERIES_FILE


def default_shared_data() -> Path:
    """``../shared/data`` beside the repository checkout."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def prepare_out(out: Path) -> Path:
    """An empty benchmark folder; refuses to clear a folder that is not a benchmark."""
    if out.exists() and any(out.iterdir()):
        if not (out / CATALOG_FILE).exists() and not (out / QUERIES_FILE).exists():
            raise SystemExit(f"{out} is not empty and is not a benchmark folder; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def copy_image(src: Path, out: Path, relative: str) -> str:
    dst = out / relative
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return relative


def write_catalog(out: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    path = out / CATALOG_FILE
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_queries(out: Path, queries: Iterable[Mapping[str, Any]]) -> Path:
    path = out / QUERIES_FILE
    with path.open("w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, separators=(",", ":")) + "\n")
    return path
