"""Items the evaluation holds back: a detector must never be trained on them."""

from __future__ import annotations

from pathlib import Path


def clothing_benchmark_targets(
    clothing_dir: Path, *, held_back: int = 200, catalog_size: int = 2000, seed: int = 0
) -> set[str]:
    """The held-back target items of ``evaluation.datasets.clothing_screenshots`` for these settings.

    Uses that module's own seeded split, so the two never drift apart. Only its split function is
    called; nothing of its screenshot generator is used here.
    """
    from evaluation.datasets.clothing_screenshots import read_items, split_items

    targets, _ = split_items(read_items(clothing_dir), held_back, catalog_size, seed)
    return set(targets)


def write_item_ids(ids: set[str], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{i}\n" for i in sorted(ids)), encoding="utf-8")
    return out
