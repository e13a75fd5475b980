"""The page's static files (CSS, scripts, icon), read once and served with an ETag.

Served by the app itself, never from a CDN: the page works offline. ``Cache-Control: no-cache``
with an ETag makes a browser revalidate (a 304, no body) so a new release is never shown stale,
while ES-module imports keep their plain relative names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    body: bytes
    media_type: str
    etag: str


def load_assets(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every file of ``folder`` by name; only these names are ever served (no paths, no traversal)."""
    assets = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in MEDIA_TYPES:
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            assets[path.name] = Asset(path.name, body, MEDIA_TYPES[path.suffix], etag)
    return assets


ASSETS = load_assets()

__all__ = ["ASSETS", "STATIC_DIR", "Asset", "load_assets"]
