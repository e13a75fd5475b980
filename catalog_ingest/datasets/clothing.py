"""The demo catalog's manifest, from the public clothing data set (``images.csv``).

Upstream has only ``image,sender_id,label,kids``; the demo needs titles, brands and prices,
so they are derived, deterministically, and are plainly synthetic:

- ``item_id`` = the image id; ``image`` = ``<id>.jpg`` (relative to ``images/``);
- ``category`` = the upstream label;
- ``title`` = label + the first 6 characters of the id, e.g. ``T-Shirt 4f2a9c``
  (labels that name no garment, "Not sure", "Skip" and "Other", become "Item");
- ``brand`` = ``Seller <sender_id>``: the person who photographed it;
- ``price`` = 9.99 to 149.99 EUR, from the SHA-256 of the id (stable across runs);
- ``currency`` = ``EUR``; ``kids`` (upstream, verbatim) becomes an attribute.

Every csv row is kept, including the 5 that name a missing file: ``lookalike ingest``
must reject those with a clear reason, which is part of what the demo shows.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections.abc import Collection
from pathlib import Path

COLUMNS = ("item_id", "image", "title", "brand", "category", "price", "currency", "kids")
NOT_A_GARMENT = frozenset({"Not sure", "Skip", "Other"})
MIN_CENTS, MAX_CENTS = 999, 14999


def derived_price(item_id: str) -> float:
    """A stable pseudo-price in [9.99, 149.99] from the id's hash."""
    h = int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big")
    return (MIN_CENTS + h % (MAX_CENTS - MIN_CENTS + 1)) / 100


def manifest_row(image_id: str, sender_id: str, label: str, kids: str) -> dict[str, str]:
    noun = "Item" if label in NOT_A_GARMENT else label
    return {
        "item_id": image_id,
        "image": f"{image_id}.jpg",
        "title": f"{noun} {image_id[:6]}",
        "brand": f"Seller {sender_id}",
        "category": label,
        "price": f"{derived_price(image_id):.2f}",
        "currency": "EUR",
        "kids": kids,
    }


def write_clothing_manifest(
    clothing_dir: Path, out: Path, *, limit: int | None = None, item_ids: Collection[str] | None = None
) -> Path:
    """Write the manifest CSV in upstream order; ``item_ids`` keeps only those, ``limit`` the first n."""
    wanted = set(item_ids) if item_ids is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        (clothing_dir / "images.csv").open(newline="", encoding="utf-8") as src,
        out.open("w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.DictWriter(dst, fieldnames=COLUMNS)
        writer.writeheader()
        written = 0
        for row in csv.DictReader(src):
            if limit is not None and written >= limit:
                break
            if wanted is not None and row["image"] not in wanted:
                continue
            writer.writerow(manifest_row(row["image"], row["sender_id"], row["label"], row["kids"]))
            written += 1
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clothing-dir", type=Path, required=True, help="folder with images.csv and images/")
    parser.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    args = parser.parse_args(argv)
    path = write_clothing_manifest(args.clothing_dir, args.out, limit=args.limit)
    print(f"wrote {path}; load it with: lookalike ingest {path} --images-root {args.clothing_dir / 'images'}")


if __name__ == "__main__":
    main()
