"""Image files in the images folder that no manifest row names (upstream data is rarely tidy)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})


def unreferenced_images(root: Path, referenced: Collection[str]) -> list[str]:
    """Paths relative to ``root`` (sorted) of image files under it that are not in ``referenced``.

    ``referenced`` holds resolved absolute paths, as rows resolve them.
    """
    base = root.resolve()
    wanted = set(referenced)
    found = []
    for path in base.rglob("*"):
        if path.suffix.lower() in IMAGE_SUFFIXES and str(path) not in wanted and path.is_file():
            found.append(path.relative_to(base).as_posix())
    return sorted(found)
