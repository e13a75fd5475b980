"""Grocery Store benchmark: 81 iconic web photos as the catalog, store phone photos as queries.

A real shop-to-street task (Klasson et al., WACV 2019; MIT licence). ``item_id`` is the fine
class name (e.g. ``Granny-Smith``), ``category`` its coarse class (``Apple``), so reports carry
category recall beside item recall: fruit varieties are hard to tell apart even for people.

    python -m evaluation.datasets.grocery --out var/benchmarks/grocery
    python -m evaluation.datasets.grocery --classes held-out --out var/benchmarks/grocery-held-out

``--classes held-out`` keeps only the classes the product embedder never trained on
(``lookalike.splits.grocery_held_out_classes``): their iconic photos are the catalog, their test
photos the queries. Every build also writes ``adapt.csv`` (``item_id,image``): the ``train/`` store
photos of the benchmark's classes, a retailer's labelled photos for ``lookalike adapt`` and
``lookalike eval --adapt`` (never the test split).
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
from lookalike.splits import grocery_held_out_classes

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


def build_grocery(
    out: Path, grocery_dir: Path, *, split: str = "test", limit: int | None = None, classes: str = "all"
) -> Path:
    """Write catalog.csv, queries.jsonl (classes interleaved), adapt.csv and images/ (copies) for
    ``split``; ``classes`` 'all' or 'held-out'."""
    out = prepare_out(out)
    rows, names = read_classes(grocery_dir)
    if classes == "held-out":
        keep = set(grocery_held_out_classes(grocery_dir))
        rows = [r for r in rows if r["item_id"] in keep]
    elif classes != "all":
        raise ValueError(f"classes must be 'all' or 'held-out', not {classes!r}")
    wanted = {r["item_id"] for r in rows}
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
            if names[int(fine)] in wanted:
                by_class.setdefault(names[int(fine)], []).append((Path(rel).stem, src))
    queries = []
    for query_id, src, item_id in _round_robin(by_class)[:limit]:
        image = copy_image(src, out, f"images/{split}/{query_id}.jpg")
        queries.append({"query_id": query_id, "image": image, "relevant": [item_id]})
    write_queries(out, queries)
    write_labelled_photos(out, grocery_dir, names, wanted)
    return out


def write_labelled_photos(out: Path, grocery_dir: Path, names: dict[int, str], wanted: set[str]) -> Path:
    """``adapt.csv``: the ``train/`` photos of the wanted classes as ``item_id,image`` (absolute
    paths into the shared data: read-only, nothing copied)."""
    path = out / "adapt.csv"
    with (grocery_dir / "train.txt").open(encoding="utf-8") as f, path.open("w", newline="") as g:
        writer = csv.writer(g)
        writer.writerow(["item_id", "image"])
        for line in f:
            if line.strip():
                rel, fine, _coarse = (part.strip() for part in line.split(","))
                if names[int(fine)] in wanted:
                    writer.writerow([names[int(fine)], str((grocery_dir / rel).resolve())])
    return path


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
    parser.add_argument(
        "--classes", choices=("all", "held-out"), default="all", help="held-out: classes never trained on"
    )
    args = parser.parse_args(argv)
    out = build_grocery(args.out, args.grocery_dir, split=args.split, limit=args.limit, classes=args.classes)
    print(f"wrote {out}; run: lookalike eval {out}")


if __name__ == "__main__":
    main()
