"""Turn a raw manifest row into an item record and an image reference, or a reject reason."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from catalog import ItemRecord
from catalog_ingest.manifest import RawRow
from lookalike.items import METADATA_FIELDS, METADATA_TYPES

KNOWN_COLUMNS = frozenset({"item_id", "image", *METADATA_FIELDS})


class RowError(ValueError):
    """Why a row is rejected (the message goes to the rejects file)."""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Where an image's bytes are: an absolute local path or an http(s) URL."""

    source: str
    is_url: bool


@dataclass(frozen=True, slots=True)
class ManifestRow:
    number: int
    item: ItemRecord
    image: str
    ref: ImageRef


def resolve_image(value: str, base: Path) -> ImageRef:
    """Local paths are relative to ``base``; ``file://`` and ``http(s)://`` URLs are accepted."""
    lowered = value.lower()
    if lowered.startswith(("http://", "https://")):
        return ImageRef(value, True)
    if lowered.startswith("file:"):
        parsed = urlparse(value)
        if parsed.netloc not in ("", "localhost"):
            raise RowError(f"file URL {value!r} names another host")
        return ImageRef(str(Path(url2pathname(unquote(parsed.path))).resolve()), False)
    scheme = urlparse(value).scheme
    if len(scheme) > 1:  # one letter is a Windows drive
        raise RowError(f"unsupported image URL scheme {scheme!r} (use a path, file:// or http(s)://)")
    path = Path(value).expanduser()
    return ImageRef(str((path if path.is_absolute() else base / path).resolve()), False)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(name: str, value: Any) -> float | None:
    """A metadata number (the price): finite and >= 0."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RowError(f"{name} {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{name} {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise RowError(f"{name} {value!r} must be a finite number >= 0")
    return number


def _metadata(values: dict[str, Any]) -> dict[str, Any]:
    """The row's metadata fields, each read as its declared type (``lookalike.items``)."""
    return {
        name: _number(name, values.get(name)) if kind is float else _text(values.get(name))
        for name, kind in METADATA_TYPES.items()
    }


def parse_row(raw: RawRow, base: Path) -> ManifestRow:
    """Validate one row; raises ``RowError`` with the reason to reject it."""
    if raw.error is not None:
        raise RowError(raw.error)
    values = raw.values
    item_id = _text(values.get("item_id"))
    image = _text(values.get("image"))
    if item_id is None:
        raise RowError("missing item_id")
    if image is None:
        raise RowError("missing image")
    item = ItemRecord(
        item_id=item_id,
        **_metadata(values),
        attributes={k: v for k, v in values.items() if k not in KNOWN_COLUMNS and v is not None},
    )
    return ManifestRow(raw.number, item, image, resolve_image(image, base))
