"""Clothing screenshot benchmark: catalog photos composed into fake app screenshots, boxes known.

From the shared clothing photos (CC0): a seeded set of garments is held back as the *targets*;
the catalog is those plus seeded distractor items (``--catalog-size`` in all, default 2,000 to
keep a CPU eval short). Each target keeps its one photo in the catalog, and its queries are that
same photo cropped, scaled, rotated, warped, colour-jittered, blurred and pasted with 0–2
other targets into a phone screenshot with UI chrome and non-catalog photos (from images
outside the catalog), then JPEG-compressed: ``compose_screenshot``. So the right item and
its box are known for every product in every screenshot; the non-catalog photos' boxes are
written as ``ignore`` regions (a detection there is neither right nor wrong).

    python -m evaluation.datasets.clothing_screenshots --out var/benchmarks/clothing-screenshots
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
from pathlib import Path

from PIL import Image

from catalog_ingest.datasets.clothing import write_clothing_manifest
from evaluation.datasets.common import (
    copy_image,
    default_shared_data,
    prepare_out,
    write_catalog,
    write_queries,
)
from evaluation.synth.grid import MAX_CARDS, MIN_CARDS, compose_grid
from evaluation.synth.screenshot import compose_screenshot_full
from lookalike.splits import read_clothing_labels, split_clothing_items

IN_SHOT_PHOTOS = 2


def split_items(
    items: dict[str, str], held_back: int, catalog_size: int, seed: int
) -> tuple[list[str], list[str]]:
    """The benchmark's seeded targets and distractors (``lookalike.splits``, shared with the detector's
    training data, which must leave the targets out)."""
    try:
        return split_clothing_items(items, held_back, catalog_size, seed)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc


def group_targets(
    targets: list[str], rng: random.Random, shots_per_item: int, max_products: int, min_products: int = 1
) -> list[list[str]]:
    """Shuffle the targets (``shots_per_item`` times over) into screenshots of min..max_products."""
    groups: list[list[str]] = []
    for _ in range(shots_per_item):
        order = list(targets)
        rng.shuffle(order)
        while order:
            n = min(len(order), rng.randint(min_products, max_products))
            rest = len(order) - n
            if 0 < rest < min_products:  # never leave a remainder too small for a screen
                n = len(order) if len(order) <= max_products else len(order) - min_products
            groups.append(order[:n])
            order = order[n:]
    return groups


def build_clothing_screenshots(
    out: Path,
    clothing_dir: Path,
    *,
    held_back: int = 200,
    catalog_size: int = 2000,
    shots_per_item: int = 1,
    max_products: int = 3,
    seed: int = 0,
    size: tuple[int, int] = (1170, 2532),
    layout: str = "screen",
) -> Path:
    """Write catalog.csv, queries.jsonl (with boxes and ignore regions) and images/ for the settings given.

    ``layout="grid"``: shop result grids of 6 to 12 targets each instead (``evaluation.synth.grid``).
    """
    if layout == "grid":
        min_products, max_products = MIN_CARDS, MAX_CARDS
    elif layout != "screen":
        raise SystemExit(f"layout must be 'screen' or 'grid', not {layout!r}")
    elif not 1 <= max_products <= 3:
        raise SystemExit("max_products must be 1, 2 or 3")
    else:
        min_products = 1
    out = prepare_out(out)
    items = read_clothing_labels(clothing_dir)
    targets, distractors = split_items(items, held_back, catalog_size, seed)
    catalog_ids = set(targets) | set(distractors)
    photos = clothing_dir / "images"

    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_clothing_manifest(clothing_dir, Path(tmp) / "manifest.csv", item_ids=catalog_ids)
        with manifest.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or ())
            rows = list(reader)
    for row in rows:
        row["image"] = copy_image(photos / row["image"], out, f"images/catalog/{row['item_id']}.jpg")
    write_catalog(out, columns, rows)

    # Photos inside screenshots that are not products of this catalog (incl. files no csv row names).
    outsiders = sorted(p for p in photos.glob("*.jpg") if p.stem not in catalog_ids)
    rng = random.Random(seed)
    queries = []
    (out / "images" / "queries").mkdir(parents=True, exist_ok=True)
    for n, group in enumerate(group_targets(targets, rng, shots_per_item, max_products, min_products), 1):
        shot_rng = random.Random(seed * 1_000_003 + n)
        products = [_load(photos / f"{item}.jpg") for item in group]
        if layout == "grid":
            shot = compose_grid(products, shot_rng, size=size)
        else:
            others = [_load(p) for p in shot_rng.sample(outsiders, min(IN_SHOT_PHOTOS, len(outsiders)))]
            shot = compose_screenshot_full(products, shot_rng, size=size, distractors=others)
        query_id = f"shot-{n:04d}"
        image = f"images/queries/{query_id}.jpg"
        (out / image).write_bytes(shot.jpeg)
        queries.append(
            {
                "query_id": query_id,
                "image": image,
                "relevant": group,
                "boxes": [
                    {"box": box.as_list(), "item_id": item, "category": items[item]}
                    for item, box in zip(group, shot.boxes, strict=True)
                ],
                "ignore": [box.as_list() for box in shot.ignore],
            }
        )
    write_queries(out, queries)
    return out


def _load(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the clothing screenshot benchmark folder.")
    parser.add_argument("--out", type=Path, required=True, help="benchmark folder to (re)create")
    parser.add_argument("--clothing-dir", type=Path, default=default_shared_data() / "clothing")
    parser.add_argument("--held-back", type=int, default=200, help="target items that get screenshots")
    parser.add_argument("--catalog-size", type=int, default=2000, help="catalog items, targets included")
    parser.add_argument("--shots-per-item", type=int, default=1, help="screenshots each target appears in")
    parser.add_argument("--max-products", type=int, default=3, help="products per screenshot, 1 to 3")
    parser.add_argument(
        "--layout", choices=("screen", "grid"), default="screen", help="grid: shop grids of 6 to 12 cards"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=1170)
    parser.add_argument("--height", type=int, default=2532)
    args = parser.parse_args(argv)
    out = build_clothing_screenshots(
        args.out,
        args.clothing_dir,
        held_back=args.held_back,
        catalog_size=args.catalog_size,
        shots_per_item=args.shots_per_item,
        max_products=args.max_products,
        seed=args.seed,
        size=(args.width, args.height),
        layout=args.layout,
    )
    print(f"wrote {out}; run: lookalike eval {out}   (and --detector none for whole-image search)")


if __name__ == "__main__":
    main()
