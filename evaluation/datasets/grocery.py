"""Grocery Store benchmark: 81 iconic web photos as the catalog, store phone photos as queries.

A real shop-to-street task (Klasson et al., WACV 2019; MIT licence). ``item_id`` is the fine
class name (e.g. ``Granny-Smith``), ``category`` its coarse class (``Apple``), so reports carry
category recall beside item recall: fruit varieties are hard to tell apart even for people.

    python -m evaluation.datasets.grocery --out var/benchmarks/grocery
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from evaluation.datasets.common import (
    copy_image,
    default_shared_data,
    prepare_out,
    write_catalog,
    write_queries,
)

CATALOG_COLUMNS = ("item_id", "image", "title", "category")


def read_classes(grocery_dir: Path) -> tuple[list[dict[str, str]], dict[int, str]]:
    """Catalog rows from classes.csv, and class id -> fine class name."""
    rows: list[dict[str, str]] = []
    names: dict[int, str] = {}
    with (grocery_dir / "classes.csv").open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            name = rec["Class Name (str)"].strip()
            names[int(rec["Class ID (int)"])] = name
            iconic = grocery_dir / rec["Iconic Image Path (str)"].strip().lstrip("/")
            rows.append(
                {
                    "item_id": name,
                    "image": str(iconic),
                    "title": name.replace("-", " "),
                    "category": rec["Coarse Class Name (str)"].strip(),
                }
            )
    return rows, names


def build_grocery(out: Path, grocery_dir: Path, *, split: str = "test", limit: int | None = None) -> Path:
    """Write catalog.csv, queries.jsonl (classes interleaved) and images/ (copies) for ``split``."""
    out = prepare_out(out)
    rows, names = read_classes(grocery_dir)
    for row in rows:
        row["image"] = copy_image(Path(row["image"]), out, f"images/catalog/{row['item_id']}.jpg")
    write_catalog(out, CATALOG_COLUMNS, rows)
    by_class: dict[str, list[tuple[str, Path]]] = {}
    listing = grocery_dir / f"{split}.txt"
    with listing.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rel, fine, _coarse = (part.strip() for part in line.split(","))
            src = grocery_dir / rel
            if not src.is_file():
                raise SystemExit(f"{listing}: {rel} is missing")
            by_class.setdefault(names[int(fine)], []).append((Path(rel).stem, src))
    queries = []
    for query_id, src, item_id in _round_robin(by_class)[:limit]:
        image = copy_image(src, out, f"images/{split}/{query_id}.jpg")
        queries.append({"query_id": query_id, "image": image, "relevant": [item_id]})
    write_queries(out, queries)
    return out


def _round_robin(by_class: dict[str, list[tuple[str, Path]]]) -> list[tuple[str, Path, str]]:
    """One photo of each class in turn, so any prefix (``lookalike eval --limit``) spans the classes."""
    out: list[tuple[str, Path, str]] = []
    depth = max(len(v) for v in by_class.values())
    for i in range(depth):
        for item_id, photos in by_class.items():
            if i < len(photos):
                out.append((*photos[i], item_id))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the grocery benchmark folder.")
    parser.add_argument("--out", type=Path, required=True, help="benchmark folder to (re)create")
    parser.add_argument("--grocery-dir", type=Path, default=default_shared_data() / "grocery")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N query photos")
    args = parser.parse_args(argv)
    out = build_grocery(args.out, args.grocery_dir, split=args.split, limit=args.limit)
    print(f"wrote {out}; run: lookalike eval {out}")


if __name__ == "__main__":
    main()
