"""A benchmark directory: ``catalog.csv`` + ``queries.jsonl`` + images, loaded and checked up front.

Every problem (missing image, bad JSON, wrong type, an item id the catalog lacks) is a
``ManifestError`` naming the file and line, before any model runs: a broken benchmark must
never turn into a quietly wrong score. The format is described in docs/EVALUATION.md.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from lookalike.errors import ManifestError
from lookalike.imaging import file_sha256
from lookalike.types import Box

CATALOG_FILE = "catalog.csv"
QUERIES_FILE = "queries.jsonl"
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True, slots=True)
class TruthBox:
    """Where a catalog item appears in a query image (decoded, EXIF-upright pixels)."""

    box: Box
    item_id: str
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    image: Path
    relevant: frozenset[str]
    boxes: tuple[TruthBox, ...] = ()
    line: int = 0
    ignore: tuple[Box, ...] = ()


@dataclass(frozen=True)
class Benchmark:
    """A loaded, validated benchmark. ``categories`` maps every catalog item id to its category."""

    name: str
    root: Path
    catalog_csv: Path
    queries: tuple[Query, ...]
    categories: dict[str, str | None]
    catalog_sha256: str
    queries_sha256: str

    @property
    def has_categories(self) -> bool:
        return any(c for c in self.categories.values())

    @property
    def has_boxes(self) -> bool:
        return any(q.boxes for q in self.queries)

    def limited(self, limit: int | None) -> Benchmark:
        """The first ``limit`` queries (file order), for quick runs; the catalog stays whole."""
        if limit is None:
            return self
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        return replace(self, queries=self.queries[:limit])


def load_benchmark(root: Path) -> Benchmark:
    """Read and validate ``root``; raise ``ManifestError`` on the first problem, naming file and line."""
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(f"{root}: benchmark directory not found")
    catalog_csv = root / CATALOG_FILE
    queries_path = root / QUERIES_FILE
    for path in (catalog_csv, queries_path):
        if not path.is_file():
            raise ManifestError(f"{path}: missing (a benchmark needs {CATALOG_FILE} and {QUERIES_FILE})")
    categories = _read_catalog(catalog_csv, root)
    queries = _read_queries(queries_path, root, categories)
    return Benchmark(
        name=root.resolve().name,
        root=root,
        catalog_csv=catalog_csv,
        queries=tuple(queries),
        categories=categories,
        catalog_sha256=file_sha256(catalog_csv),
        queries_sha256=file_sha256(queries_path),
    )


def _read_catalog(path: Path, root: Path) -> dict[str, str | None]:
    categories: dict[str, str | None] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"item_id", "image"} - set(reader.fieldnames or ())
            if missing:
                raise ManifestError(f"{path}:1: header lacks column(s) {sorted(missing)}")
            for row in reader:
                line = reader.line_num
                item_id = (row.get("item_id") or "").strip()
                image = (row.get("image") or "").strip()
                if not item_id or not image:
                    raise ManifestError(f"{path}:{line}: item_id and image must not be empty")
                if not _resolve(root, image).is_file():
                    raise ManifestError(f"{path}:{line}: image {image!r} not found under {root}")
                category = (row.get("category") or "").strip() or None
                if item_id in categories and categories[item_id] != category:
                    raise ManifestError(
                        f"{path}:{line}: item {item_id!r} has category {category!r} here but "
                        f"{categories[item_id]!r} on an earlier row"
                    )
                categories[item_id] = category
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise ManifestError(f"{path}: malformed CSV ({exc})") from exc
    if not categories:
        raise ManifestError(f"{path}: the catalog has no rows")
    return categories


def _read_queries(path: Path, root: Path, catalog: dict[str, str | None]) -> list[Query]:
    queries: list[Query] = []
    seen: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc})") from exc
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON ({exc.msg})") from exc
        query = _parse_query(obj, where, root, catalog, number)
        if query.query_id in seen:
            raise ManifestError(
                f"{where}: query_id {query.query_id!r} already used on line {seen[query.query_id]}"
            )
        seen[query.query_id] = number
        queries.append(query)
    if not queries:
        raise ManifestError(f"{path}: no queries")
    return queries


def _parse_query(obj: Any, where: str, root: Path, catalog: dict[str, str | None], number: int) -> Query:
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("query_id", "image", "relevant"):
        if key not in obj:
            raise ManifestError(f"{where}: missing key {key!r}")
    query_id, image, relevant = obj["query_id"], obj["image"], obj["relevant"]
    if not isinstance(query_id, str) or not query_id:
        raise ManifestError(f"{where}: query_id must be a non-empty string")
    if not isinstance(image, str) or not image:
        raise ManifestError(f"{where}: image must be a non-empty string (a path relative to {root})")
    if not isinstance(relevant, list) or not relevant or not all(isinstance(r, str) and r for r in relevant):
        raise ManifestError(f"{where}: relevant must be a non-empty list of item_id strings")
    unknown = sorted(set(relevant) - catalog.keys())
    if unknown:
        raise ManifestError(f"{where}: relevant item(s) {unknown} are not in {CATALOG_FILE}")
    path = _resolve(root, image)
    if not path.is_file():
        raise ManifestError(f"{where}: image {image!r} not found under {root}")
    boxes = _parse_boxes(obj.get("boxes", []), where, path, catalog, set(relevant))
    ignore = _parse_ignore(obj.get("ignore", []), where, path)
    return Query(query_id, path, frozenset(relevant), boxes, number, ignore)


def _parse_boxes(
    raw: Any, where: str, image: Path, catalog: dict[str, str | None], relevant: set[str]
) -> tuple[TruthBox, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ManifestError(f"{where}: boxes must be a list")
    if not raw:
        return ()
    width, height = _upright_size(image, where)
    out: list[TruthBox] = []
    for i, entry in enumerate(raw):
        at = f"{where}: boxes[{i}]"
        if not isinstance(entry, dict) or "box" not in entry or "item_id" not in entry:
            raise ManifestError(f"{at}: expected an object with 'box' and 'item_id'")
        coords, item_id, category = entry["box"], entry["item_id"], entry.get("category")
        box = _parse_box(coords, f"{at}: box", width, height)
        if not isinstance(item_id, str) or item_id not in catalog:
            raise ManifestError(f"{at}: item_id {item_id!r} is not in {CATALOG_FILE}")
        if item_id not in relevant:
            raise ManifestError(f"{at}: item_id {item_id!r} is boxed but not listed in relevant")
        if category is not None and not isinstance(category, str):
            raise ManifestError(f"{at}: category must be a string or null")
        out.append(TruthBox(box, item_id, category))
    return tuple(out)


def _parse_ignore(raw: Any, where: str, image: Path) -> tuple[Box, ...]:
    """Regions whose detections are scored as neither right nor wrong (e.g. non-catalog photos)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ManifestError(f"{where}: ignore must be a list of [x1, y1, x2, y2] boxes")
    if not raw:
        return ()
    width, height = _upright_size(image, where)
    return tuple(_parse_box(c, f"{where}: ignore[{i}]", width, height) for i, c in enumerate(raw))


def _parse_box(coords: Any, at: str, width: int, height: int) -> Box:
    """``[x1, y1, x2, y2]`` inside the image (1 px slack), clipped to it."""
    if (
        not isinstance(coords, list)
        or len(coords) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in coords)
    ):
        raise ManifestError(f"{at} must be [x1, y1, x2, y2] numbers")
    box = Box(*(float(v) for v in coords))
    if not (box.x2 > box.x1 and box.y2 > box.y1):
        raise ManifestError(f"{at} {coords} must have x2 > x1 and y2 > y1")
    if box.x1 < -1 or box.y1 < -1 or box.x2 > width + 1 or box.y2 > height + 1:
        raise ManifestError(f"{at} {coords} lies outside the {width}x{height} image")
    return box.clipped(width, height)


def _upright_size(image: Path, where: str) -> tuple[int, int]:
    """Size after EXIF rotation (boxes are in upright pixels), read from the header only."""
    try:
        with Image.open(image) as img:
            width, height = img.size
            orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    except (OSError, UnidentifiedImageError) as exc:
        raise ManifestError(f"{where}: image {image} cannot be read ({exc})") from exc
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _resolve(root: Path, image: str) -> Path:
    path = Path(image)
    return path if path.is_absolute() else root / path


__all__ = ["CATALOG_FILE", "QUERIES_FILE", "Benchmark", "Query", "TruthBox", "file_sha256", "load_benchmark"]
