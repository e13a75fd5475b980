"""Text benchmark: product pages whose words, not their pixels, tell look-alike items apart.

From the shared clothing photos (CC0), a seeded set of garments is held back as *targets*.
Each target gets a brand and a product name (``Arvo`` / ``Relaxed linen shirt``; made-up words
from fixed lists, since the data set has none), and two look-alike items join the catalog
beside it: one with the same name under another brand, one of the same brand with another
name. All three catalog photos are equally jittered copies (crop, colour, contrast, blur)
of the target's one photo, so whole pixels cannot tell them apart, and an item is only found
by its brand *and* name together. The query is a phone product page (``compose_product_page``)
holding another jittered copy of the photo with the target's brand, name and price printed
under it, an "Add to bag" button and a caption with a hashtag and an emoji. Seeded distractor
items (real photos, names from the same lists) fill the catalog.

Fair because: the target and its look-alikes are built the same way (no copy is closer to the
query by construction); the words printed are the item's own catalog fields, as a shop app
shows them; half of each look-alike's words are the target's, so a single word never decides.
What it does not measure: OCR on real app fonts and layouts, or catalogs whose names repeat.

    python -m evaluation.datasets.clothing_text --out var/benchmarks/clothing-text
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image

from catalog_ingest.datasets.clothing import derived_price
from evaluation.datasets.common import default_shared_data, prepare_out, write_catalog, write_queries
from evaluation.synth.product_page import compose_product_page, jitter_photo
from lookalike.splits import read_clothing_labels, split_clothing_items

BRANDS = [
    "Arvo",
    "Belka",
    "Corso",
    "Dunmore",
    "Elska",
    "Fenwick",
    "Galeo",
    "Harlow",
    "Isola",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Marlo",
    "Norvik",
    "Orla",
    "Pallas",
    "Quill",
    "Rowan",
    "Solveig",
    "Tamsin",
    "Umbra",
    "Vesna",
    "Wilder",
    "Xanthe",
    "Yarrow",
    "Zelda",
    "Alder",
    "Brisa",
    "Calder",
    "Delphi",
]
ADJECTIVES = [
    "relaxed",
    "slim",
    "classic",
    "oversized",
    "cropped",
    "tailored",
    "vintage",
    "essential",
    "soft",
    "everyday",
    "structured",
    "washed",
    "brushed",
    "lightweight",
    "heavyweight",
    "boxy",
    "fitted",
    "airy",
    "cosy",
    "sleek",
]
MATERIALS = [
    "linen",
    "cotton",
    "denim",
    "wool",
    "cashmere",
    "jersey",
    "corduroy",
    "twill",
    "poplin",
    "canvas",
    "fleece",
    "satin",
    "suede",
    "velvet",
    "mesh",
]
NOUNS = {
    "T-Shirt": "tee",
    "Longsleeve": "longsleeve",
    "Pants": "trousers",
    "Shoes": "sneakers",
    "Shirt": "shirt",
    "Dress": "dress",
    "Outwear": "jacket",
    "Shorts": "shorts",
    "Hat": "cap",
    "Skirt": "skirt",
    "Polo": "polo",
    "Undershirt": "vest",
    "Blazer": "blazer",
    "Hoodie": "hoodie",
    "Body": "bodysuit",
    "Top": "top",
    "Blouse": "blouse",
}
COLUMNS = ("item_id", "image", "title", "brand", "category", "price", "currency")


def _name(rng: random.Random, label: str, avoid: str = "") -> str:
    while True:
        name = f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(MATERIALS)} {NOUNS.get(label, 'piece')}"
        if name != avoid:
            return name


def _other(rng: random.Random, choices: list[str], avoid: str) -> str:
    return rng.choice([c for c in choices if c != avoid])


def build_clothing_text(
    out: Path, clothing_dir: Path, *, held_back: int = 150, catalog_size: int = 1000, seed: int = 0
) -> Path:
    """Write catalog.csv, queries.jsonl and images/ (see the module doc)."""
    out = prepare_out(out)
    labels = read_clothing_labels(clothing_dir)
    garments = {k: v for k, v in labels.items() if v in NOUNS}
    targets, distractors = split_clothing_items(garments, held_back, catalog_size, seed)
    rng = random.Random(seed)
    photos = clothing_dir / "images"
    (out / "images" / "catalog").mkdir(parents=True, exist_ok=True)
    (out / "images" / "queries").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    queries = []

    def add(item_id: str, image: Image.Image, title: str, brand: str, label: str, price: float) -> None:
        relative = f"images/catalog/{item_id}.jpg"
        image.save(out / relative, quality=90)
        rows.append(
            {
                "item_id": item_id,
                "image": relative,
                "title": title,
                "brand": brand,
                "category": label,
                "price": f"{price:.2f}",
                "currency": "EUR",
            }
        )

    for n, target in enumerate(targets, 1):
        label = garments[target]
        with Image.open(photos / f"{target}.jpg") as img:
            photo = img.convert("RGB")
        brand, name, price = rng.choice(BRANDS), _name(rng, label), derived_price(target)
        add(target, jitter_photo(photo, rng, crop=0.95), name, brand, label, price)
        add(
            f"{target}-b", jitter_photo(photo, rng, crop=0.95), name, _other(rng, BRANDS, brand), label, price
        )
        add(f"{target}-n", jitter_photo(photo, rng, crop=0.95), _name(rng, label, name), brand, label, price)
        page = compose_product_page(
            photo, brand, name, f"{price:.2f} EUR", random.Random(seed * 1_000_003 + n)
        )
        image = f"images/queries/page-{n:04d}.jpg"
        (out / image).write_bytes(page.jpeg)
        queries.append(
            {
                "query_id": f"page-{n:04d}",
                "image": image,
                "relevant": [target],
                "boxes": [{"box": page.photo_box.as_list(), "item_id": target, "category": label}],
                "ignore": [],
            }
        )
    for item in distractors:
        label = garments[item]
        with Image.open(photos / f"{item}.jpg") as img:
            add(item, img.convert("RGB"), _name(rng, label), rng.choice(BRANDS), label, derived_price(item))
    write_catalog(out, COLUMNS, rows)
    write_queries(out, queries)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the clothing text benchmark folder.")
    parser.add_argument("--out", type=Path, required=True, help="benchmark folder to (re)create")
    parser.add_argument("--clothing-dir", type=Path, default=default_shared_data() / "clothing")
    parser.add_argument("--held-back", type=int, default=150, help="target items (each gets 2 look-alikes)")
    parser.add_argument("--catalog-size", type=int, default=1000, help="targets + distractors")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_clothing_text(
        args.out, args.clothing_dir, held_back=args.held_back, catalog_size=args.catalog_size, seed=args.seed
    )
    print(f"wrote {out}; run: lookalike eval {out} --ocr off   (and --ocr always)")


if __name__ == "__main__":
    main()
