"""People-posts benchmark: photos of people wearing garments, framed as a user would screenshot them.

From the shared people photos (Clothing Co-Parsing, Apache-2.0), test split only (0701-0800,
``detector.training.people.SPLITS``: never trained on). Every worn garment the detector should
find (``people_labels``: garments, footwear, bags, hats, scarves) is cropped into the catalog as
its own item; the rest of the catalog is clothing photos (CC0) as distractors. Each test photo
gives one query: the photo itself, a feed post, a story, a shop-the-look page (cards of clothing
photos outside the catalog, ignored) or a collage with other test photos, composed by
``evaluation.synth.people_screen``. Excluded items (stockings, belts, jewellery...) and garments
mostly cut away are ``ignore`` regions.

    python -m evaluation.datasets.people_posts --out var/benchmarks/people-posts
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image

from detector.training.classes import GARMENT_CLASS_MAP
from detector.training.people import PeoplePhoto, in_split, read_people
from detector.training.people_labels import PEOPLE_CLASS_MAP
from evaluation.datasets.common import (
    copy_image,
    default_shared_data,
    prepare_out,
    write_catalog,
    write_queries,
)
from evaluation.synth.people_screen import Person, compose_people_screen
from lookalike.splits import read_clothing_labels
from lookalike.types import Box

COLUMNS = ("item_id", "image", "title", "category")
KIND_WEIGHTS = {"photo": 0.25, "post": 0.3, "story": 0.2, "look": 0.15, "collage": 0.1}


def worn_items(photo: PeoplePhoto) -> dict[str, tuple[Box, str]]:
    """item id -> (box, detector class) for the garments of ``photo`` that are products."""
    out: dict[str, tuple[Box, str]] = {}
    for i, b in enumerate(photo.boxes):
        cls = PEOPLE_CLASS_MAP.class_of(b.label)
        if cls is not None:
            out[f"p{photo.number:04d}-{i:02d}"] = (Box(b.x1, b.y1, b.x2, b.y2), cls)
    return out


def _person(photo: PeoplePhoto) -> Person:
    with Image.open(photo.path) as im:
        pixels = im.convert("RGB")
    garments = {key: box for key, (box, _) in worn_items(photo).items()}
    ignore = [Box(b.x1, b.y1, b.x2, b.y2) for b in photo.boxes if PEOPLE_CLASS_MAP.class_of(b.label) is None]
    return Person(pixels, garments, ignore)


def build_people_posts(
    out: Path,
    people_dir: Path,
    clothing_dir: Path,
    *,
    catalog_size: int = 2000,
    seed: int = 0,
    size: tuple[int, int] = (1170, 2532),
    limit: int | None = None,
) -> Path:
    """Write catalog.csv (worn crops + clothing distractors), queries.jsonl and images/.

    ``limit``: only the first N test photos (for quick checks; the benchmark is all 100).
    """
    out = prepare_out(out)
    photos = in_split(read_people(people_dir), "test")[:limit]
    rows: list[dict[str, str]] = []
    categories: dict[str, str] = {}
    for photo in photos:
        with Image.open(photo.path) as im:
            pixels = im.convert("RGB")
        for item_id, (box, cls) in worn_items(photo).items():
            rel = f"images/catalog/{item_id}.jpg"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            pixels.crop((round(box.x1), round(box.y1), round(box.x2), round(box.y2))).save(
                out / rel, quality=92
            )
            rows.append({"item_id": item_id, "image": rel, "title": f"worn {cls}", "category": cls})
            categories[item_id] = cls
    rng = random.Random(seed)
    clothing = read_clothing_labels(clothing_dir)
    ids = sorted(clothing)
    rng.shuffle(ids)
    n_distractors = max(0, catalog_size - len(rows))
    for item_id in ids[:n_distractors]:
        cls = GARMENT_CLASS_MAP.categories.get(clothing[item_id]) or "other"
        rel = copy_image(clothing_dir / "images" / f"{item_id}.jpg", out, f"images/catalog/{item_id}.jpg")
        rows.append({"item_id": item_id, "image": rel, "title": clothing[item_id], "category": cls})
    write_catalog(out, COLUMNS, rows)
    outsiders = ids[n_distractors:]  # clothing photos outside the catalog, for shop-the-look cards

    people = {p.number: p for p in photos}
    numbers = sorted(people)
    queries = []
    (out / "images" / "queries").mkdir(parents=True, exist_ok=True)
    for number in numbers:
        shot_rng = random.Random(f"people-posts:{seed}:{number}")
        kind = shot_rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
        shown = [number]
        if kind == "collage":
            shown += shot_rng.sample([n for n in numbers if n != number], shot_rng.randint(1, 3))
        products = (
            [Image.open(clothing_dir / "images" / f"{i}.jpg") for i in shot_rng.sample(outsiders, 3)]
            if kind == "look"
            else []
        )
        screen = compose_people_screen(
            kind, [_person(people[n]) for n in shown], shot_rng, size=size, products=products
        )
        if not screen.boxes:
            continue  # every garment hidden: nothing to find (not seen with the defaults)
        query_id = f"people-{number:04d}"
        image = f"images/queries/{query_id}.jpg"
        (out / image).write_bytes(screen.jpeg)
        queries.append(
            {
                "query_id": query_id,
                "image": image,
                "kind": kind,
                "relevant": sorted(screen.boxes),
                "boxes": [
                    {"box": box.as_list(), "item_id": key, "category": categories[key]}
                    for key, box in sorted(screen.boxes.items())
                ],
                "ignore": [box.as_list() for box in screen.ignore],
            }
        )
    write_queries(out, queries)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the people-posts benchmark folder.")
    parser.add_argument("--out", type=Path, required=True, help="benchmark folder to (re)create")
    parser.add_argument("--people-dir", type=Path, default=default_shared_data() / "people")
    parser.add_argument("--clothing-dir", type=Path, default=default_shared_data() / "clothing")
    parser.add_argument("--catalog-size", type=int, default=2000, help="catalog items, worn crops included")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_people_posts(
        args.out, args.people_dir, args.clothing_dir, catalog_size=args.catalog_size, seed=args.seed
    )
    print(f"wrote {out}; run: lookalike eval {out}")


if __name__ == "__main__":
    main()
