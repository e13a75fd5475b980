"""Index versions on disk: each publish is an immutable folder with a manifest and checksum.

Layout: ``<root>/<catalog>/<version>/{index.faiss, payload.npz, manifest.json}`` and a
``<root>/<catalog>/CURRENT`` file naming the live version, replaced atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from index.vector_index import VectorIndex
from lookalike.errors import LookalikeError

INDEX_FILE = "index.faiss"
PAYLOAD_FILE = "payload.npz"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"


class IndexVersionError(LookalikeError):
    """A version that is missing, corrupt (checksum) or does not match the model."""


@dataclass(frozen=True)
class IndexManifest:
    catalog: str
    version: str
    model_spec: str
    dim: int
    count: int
    factory: str
    checksum: str
    created_at: str


def _sha256_file(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class IndexStore:
    """Publishes, lists and loads the index versions of every catalog under one root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def catalog_dir(self, catalog: str) -> Path:
        return self.root / catalog

    def publish(self, catalog: str, index: VectorIndex, *, model_spec: str, factory: str) -> IndexManifest:
        """Write a new version beside the old ones, then point CURRENT at it atomically."""
        cdir = self.catalog_dir(catalog)
        cdir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        tmp = Path(tempfile.mkdtemp(prefix=".publish-", dir=cdir))
        faiss.write_index(index.index, str(tmp / INDEX_FILE))
        np.savez(
            tmp / PAYLOAD_FILE,
            vector_ids=index.vector_ids,
            item_ids=index.item_ids,
            categories=index.categories,
        )
        checksum = _sha256_file(tmp / INDEX_FILE, tmp / PAYLOAD_FILE)
        version = f"v{stamp}-{checksum[:8]}"
        manifest = IndexManifest(
            catalog=catalog,
            version=version,
            model_spec=model_spec,
            dim=index.dim,
            count=index.count,
            factory=factory,
            checksum=checksum,
            created_at=datetime.now(UTC).isoformat(),
        )
        (tmp / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2))
        tmp.rename(cdir / version)
        self.set_current(catalog, version)
        return manifest

    def set_current(self, catalog: str, version: str) -> None:
        cdir = self.catalog_dir(catalog)
        if not (cdir / version / MANIFEST_FILE).is_file():
            raise IndexVersionError(f"catalog {catalog!r} has no index version {version!r}")
        fd, tmp = tempfile.mkstemp(prefix=".current-", dir=cdir)
        with os.fdopen(fd, "w") as f:
            f.write(version + "\n")
        os.replace(tmp, cdir / CURRENT_FILE)

    def current_version(self, catalog: str) -> str | None:
        path = self.catalog_dir(catalog) / CURRENT_FILE
        return path.read_text().strip() if path.is_file() else None

    def versions(self, catalog: str) -> list[IndexManifest]:
        cdir = self.catalog_dir(catalog)
        if not cdir.is_dir():
            return []
        out = []
        for d in sorted(cdir.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST_FILE).is_file():
                out.append(self.read_manifest(catalog, d.name))
        return out

    def read_manifest(self, catalog: str, version: str) -> IndexManifest:
        path = self.catalog_dir(catalog) / version / MANIFEST_FILE
        try:
            return IndexManifest(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise IndexVersionError(f"{path}: unreadable manifest ({exc})") from exc

    def load(self, catalog: str, version: str | None = None, *, model_spec: str | None = None) -> tuple[IndexManifest, VectorIndex]:
        """Load and verify a version (CURRENT by default); refuse a corrupt or mismatched one."""
        version = version or self.current_version(catalog)
        if version is None:
            raise IndexVersionError(f"catalog {catalog!r} has no published index")
        manifest = self.read_manifest(catalog, version)
        vdir = self.catalog_dir(catalog) / version
        if _sha256_file(vdir / INDEX_FILE, vdir / PAYLOAD_FILE) != manifest.checksum:
            raise IndexVersionError(f"{vdir}: checksum mismatch, refusing a corrupt index")
        if model_spec is not None and manifest.model_spec != model_spec:
            raise IndexVersionError(
                f"{vdir}: built with {manifest.model_spec!r}, but the service embeds with {model_spec!r}"
            )
        raw = faiss.read_index(str(vdir / INDEX_FILE))
        with np.load(vdir / PAYLOAD_FILE, allow_pickle=False) as payload:
            index = VectorIndex(raw, payload["vector_ids"], payload["item_ids"], payload["categories"], manifest.dim)
        if raw.d != manifest.dim or index.count != manifest.count:
            raise IndexVersionError(f"{vdir}: index shape does not match its manifest")
        return manifest, index

    def remove(self, catalog: str, version: str) -> None:
        if version == self.current_version(catalog):
            raise IndexVersionError(f"{version} is the current version of {catalog!r}")
        shutil.rmtree(self.catalog_dir(catalog) / version)
