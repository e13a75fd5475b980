"""Index versions on disk: immutable base versions, append-only delta segments, a CURRENT pointer.

Layout under ``<root>/<catalog>/``::

    CURRENT                          the live base version, replaced atomically
    <version>/manifest.json          plan, model spec, dim, count, sha256 of every file
    <version>/index.faiss            the FAISS index
    <version>/payload.npz            item, category, brand, price, stock, attributes per row
    <version>/vectors.i16.npy        exact vectors, 16-bit fixed point (lossy indexes only): re-rank,
                                     small filtered sets, compaction
    deltas/<version>/<seq>/          segments on top of that base: segment.json (with checksums),
                                     removed.npy (tombstoned ids), vectors.npy, payload.npz
    .lock                            writers (publish, append, compact, rollback) take it in turn

Everything is written to a hidden temporary folder and renamed into place, so readers never
see half a version or half a segment. Loading verifies checksums, shapes and the model spec.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from index import exact as exact_store
from index.builder import IndexPlan, build_faiss, estimate_bytes
from index.live import DeltaSegment, LiveIndex
from index.orphans import remove_orphans, temp_prefix
from index.payload import Payload
from index.vector_index import VectorIndex
from lookalike.errors import LookalikeError

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
PAYLOAD_FILE = "payload.npz"
VECTORS_FILE = "vectors.i16.npy"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
DELTAS_DIR = "deltas"
SEGMENT_FILE = "segment.json"
REMOVED_FILE = "removed.npy"
SEGMENT_VECTORS_FILE = "vectors.npy"
LOCK_FILE = ".lock"
VECTOR_CHUNK = 65_536


class IndexVersionError(LookalikeError):
    """A version or segment that is missing, corrupt (checksum) or does not match the model."""


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
    files: dict[str, str] = field(default_factory=dict)
    """sha256 per file; empty in first-format versions, whose checksum covers index + payload."""
    plan: dict[str, Any] = field(default_factory=dict)
    build: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    """Bytes per file (versions published since readiness checks them; empty before): a cheap
    ``stat`` finds a missing or truncated file without hashing it."""

    @property
    def index_plan(self) -> IndexPlan:
        return IndexPlan.from_dict(self.plan) if self.plan else IndexPlan(self.factory, self.dim)


@dataclass(frozen=True)
class SegmentInfo:
    seq: int
    base: str
    removed: int
    added: int
    checksum: str
    created_at: str
    files: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of a manifest this code knows: one written by a newer version still reads."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def sha256_file(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _combined(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


Listener = Callable[[str], None]


class IndexStore:
    """Publishes, lists, loads and changes the index versions of every catalog under one root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._listeners: list[weakref.WeakMethod[Listener] | Callable[[], Listener | None]] = []

    def catalog_dir(self, catalog: str) -> Path:
        return self.root / catalog

    # -- change notification (same process) --------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(catalog)`` after each change made through this object (weakly held)."""
        ref: Any = weakref.WeakMethod(listener) if hasattr(listener, "__self__") else (lambda: listener)
        self._listeners.append(ref)

    def _changed(self, catalog: str) -> None:
        for ref in list(self._listeners):
            listener = ref()
            if listener is None:
                self._listeners.remove(ref)
                continue
            try:
                listener(catalog)
            except Exception:  # a listener must never undo a publish
                log.exception("index_listener_failed catalog=%s", catalog)

    @contextmanager
    def writer(self, catalog: str) -> Iterator[None]:
        """Serialise writers of one catalog across processes (an advisory file lock)."""
        cdir = self.catalog_dir(catalog)
        cdir.mkdir(parents=True, exist_ok=True)
        with (cdir / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- base versions -------------------------------------------------------------------------

    def publish(
        self,
        catalog: str,
        index: VectorIndex,
        *,
        model_spec: str,
        factory: str | None = None,
        build: dict[str, float] | None = None,
        carry_from: tuple[str, int] | None = None,
    ) -> IndexManifest:
        """Write a new version beside the old ones, then point CURRENT at it atomically.

        ``carry_from=(base, seq)``: segments of ``base`` newer than ``seq`` are copied on top of
        the new version before it goes live (compaction must not lose concurrent changes).
        """
        cdir = self.catalog_dir(catalog)
        cdir.mkdir(parents=True, exist_ok=True)
        remove_orphans(cdir)  # what a killed publish left behind
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix("publish"), dir=cdir))
        try:
            faiss.write_index(index.index, str(tmp / INDEX_FILE))
            np.savez(tmp / PAYLOAD_FILE, **index.payload.to_arrays())  # type: ignore[arg-type]
            if index.exact is not None and not index.plan.exact:
                exact_store.write(tmp / VECTORS_FILE, index.exact)
            return self._commit(catalog, tmp, index, model_spec, factory, build or {}, carry_from)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def build_and_publish(
        self,
        catalog: str,
        vectors: npt.NDArray[Any],
        payload: Payload,
        plan: IndexPlan,
        *,
        model_spec: str,
        use_gpu: bool = False,
        carry_from: tuple[str, int] | None = None,
    ) -> IndexManifest:
        """Build from vectors (array or memmap) and publish; lossy indexes build from the exact
        copy written straight into the new version, so a million vectors never sit in RAM twice."""
        cdir = self.catalog_dir(catalog)
        cdir.mkdir(parents=True, exist_ok=True)
        if plan.exact:
            vecs32 = np.ascontiguousarray(vectors, dtype=np.float32)
            raw, timings = build_faiss(vecs32, plan, use_gpu=use_gpu)
            index = VectorIndex(raw, payload, plan.dim, plan)
            return self.publish(catalog, index, model_spec=model_spec, build=timings, carry_from=carry_from)
        remove_orphans(cdir)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix("publish"), dir=cdir))
        try:
            exact = exact_store.write(tmp / VECTORS_FILE, vectors)
            raw, timings = build_faiss(exact, plan, use_gpu=use_gpu)
            index = VectorIndex(raw, payload, plan.dim, plan, exact)
            faiss.write_index(raw, str(tmp / INDEX_FILE))
            np.savez(tmp / PAYLOAD_FILE, **payload.to_arrays())  # type: ignore[arg-type]
            return self._commit(catalog, tmp, index, model_spec, None, timings, carry_from)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _commit(
        self,
        catalog: str,
        tmp: Path,
        index: VectorIndex,
        model_spec: str,
        factory: str | None,
        build: dict[str, float],
        carry_from: tuple[str, int] | None,
    ) -> IndexManifest:
        written = [p for p in sorted(tmp.iterdir()) if p.is_file()]
        files = {p.name: sha256_file(p) for p in written}
        checksum = _combined(files)
        version = f"v{_stamp()}-{checksum[:8]}"
        build = {**build, "index_bytes": float(estimate_bytes(index.plan, index.count))}
        manifest = IndexManifest(
            catalog=catalog,
            version=version,
            model_spec=model_spec,
            dim=index.dim,
            count=index.count,
            factory=factory or index.plan.description,
            checksum=checksum,
            created_at=datetime.now(UTC).isoformat(),
            files=files,
            plan=index.plan.to_dict(),
            build=build,
            sizes={p.name: p.stat().st_size for p in written},
        )
        (tmp / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2))
        cdir = self.catalog_dir(catalog)
        with self.writer(catalog):
            tmp.rename(cdir / version)
            if carry_from is not None:
                self._carry_segments(catalog, carry_from, version)
            self._set_current(catalog, version)
        self._changed(catalog)
        return manifest

    def set_current(self, catalog: str, version: str) -> None:
        with self.writer(catalog):
            self._set_current(catalog, version)
        self._changed(catalog)

    def _set_current(self, catalog: str, version: str) -> None:
        cdir = self.catalog_dir(catalog)
        if not (cdir / version / MANIFEST_FILE).is_file():
            raise IndexVersionError(f"catalog {catalog!r} has no index version {version!r}")
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix("current"), dir=cdir)
        with os.fdopen(fd, "w") as f:
            f.write(version + "\n")
        os.replace(tmp, cdir / CURRENT_FILE)

    def current_version(self, catalog: str) -> str | None:
        """The live base version (without its delta segments)."""
        path = self.catalog_dir(catalog) / CURRENT_FILE
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def live_version(self, catalog: str) -> str | None:
        """What searches report: the base version, with ``+<seq>`` once delta segments exist."""
        base = self.current_version(catalog)
        if base is None:
            return None
        seqs = self.segment_seqs(catalog, base)
        return f"{base}+{seqs[-1]}" if seqs else base

    def signature(self, catalog: str) -> tuple[object, ...]:
        """Changes whenever CURRENT is replaced or a segment is added: two ``stat`` calls."""
        cdir = self.catalog_dir(catalog)
        try:
            st = os.stat(cdir / CURRENT_FILE)
        except FileNotFoundError:
            return (None,)
        base = self.current_version(catalog)
        try:
            dt = os.stat(cdir / DELTAS_DIR / str(base))
            delta: tuple[int, int] = (dt.st_ino, dt.st_mtime_ns)
        except FileNotFoundError:
            delta = (0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size, base, delta)

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
            return IndexManifest(**known_fields(IndexManifest, json.loads(path.read_text())))
        except (OSError, ValueError, TypeError) as exc:
            raise IndexVersionError(f"{path}: unreadable manifest ({exc})") from exc

    def verify(self, catalog: str, version: str, *, model_spec: str | None = None) -> IndexManifest:
        """Checksums and model spec of a version, without loading it."""
        manifest = self.read_manifest(catalog, version)
        vdir = self.catalog_dir(catalog) / version
        try:
            if manifest.files:
                actual = {name: sha256_file(vdir / name) for name in manifest.files}
                ok = actual == manifest.files and _combined(actual) == manifest.checksum
            else:
                ok = sha256_file(vdir / INDEX_FILE, vdir / PAYLOAD_FILE) == manifest.checksum
        except OSError as exc:
            raise IndexVersionError(f"{vdir}: missing file ({exc})") from exc
        if not ok:
            raise IndexVersionError(f"{vdir}: checksum mismatch, refusing a corrupt index")
        if model_spec is not None and manifest.model_spec != model_spec:
            raise IndexVersionError(
                f"{vdir}: built with {manifest.model_spec!r}, but the service embeds with {model_spec!r}: "
                "ingest the catalog again (`lookalike ingest`) to embed it with this embedder, or "
                "serve it with the embedder it was built with (docs/EMBEDDER.md)"
            )
        return manifest

    def load(
        self, catalog: str, version: str | None = None, *, model_spec: str | None = None
    ) -> tuple[IndexManifest, VectorIndex]:
        """Load and verify a base version (CURRENT by default); refuse a corrupt or mismatched one."""
        version = version or self.current_version(catalog)
        if version is None:
            raise IndexVersionError(f"catalog {catalog!r} has no published index")
        manifest = self.verify(catalog, version, model_spec=model_spec)
        vdir = self.catalog_dir(catalog) / version
        try:
            raw = faiss.read_index(str(vdir / INDEX_FILE))
            with np.load(vdir / PAYLOAD_FILE, allow_pickle=False) as arrays:
                payload = Payload.from_arrays(dict(arrays))
            exact = np.load(vdir / VECTORS_FILE, mmap_mode="r") if (vdir / VECTORS_FILE).is_file() else None
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise IndexVersionError(f"{vdir}: unreadable index files ({exc})") from exc
        shapes_ok = (
            raw.d == manifest.dim
            and raw.ntotal == manifest.count == len(payload)
            and (exact is None or exact.shape == (manifest.count, manifest.dim))
        )
        if not shapes_ok:
            raise IndexVersionError(f"{vdir}: index shape does not match its manifest")
        index = VectorIndex(raw, payload, manifest.dim, manifest.index_plan, exact)
        index.index_bytes = (vdir / INDEX_FILE).stat().st_size  # FAISS holds what it read
        return manifest, index

    def remove(self, catalog: str, version: str) -> None:
        with self.writer(catalog):
            if version == self.current_version(catalog):
                raise IndexVersionError(f"{version} is the current version of {catalog!r}")
            shutil.rmtree(self.catalog_dir(catalog) / version)
            shutil.rmtree(self.catalog_dir(catalog) / DELTAS_DIR / version, ignore_errors=True)

    # -- delta segments --------------------------------------------------------------------------

    def deltas_dir(self, catalog: str, base: str) -> Path:
        return self.catalog_dir(catalog) / DELTAS_DIR / base

    def segment_seqs(self, catalog: str, base: str) -> list[int]:
        ddir = self.deltas_dir(catalog, base)
        if not ddir.is_dir():
            return []
        return sorted(
            int(d.name) for d in ddir.iterdir() if d.name.isdigit() and (d / SEGMENT_FILE).is_file()
        )

    def segments(self, catalog: str, base: str) -> list[SegmentInfo]:
        return [self.read_segment_info(catalog, base, seq) for seq in self.segment_seqs(catalog, base)]

    def read_segment_info(self, catalog: str, base: str, seq: int) -> SegmentInfo:
        path = self.deltas_dir(catalog, base) / f"{seq:06d}" / SEGMENT_FILE
        try:
            return SegmentInfo(**known_fields(SegmentInfo, json.loads(path.read_text())))
        except (OSError, ValueError, TypeError) as exc:
            raise IndexVersionError(f"{path}: unreadable segment ({exc})") from exc

    def append_delta(
        self,
        catalog: str,
        removed: npt.ArrayLike,
        vectors: npt.NDArray[np.float32],
        payload: Payload,
        *,
        base: str | None = None,
    ) -> str:
        """Add a segment on top of CURRENT (or ``base`` if it still is CURRENT); returns the live version.

        ``removed`` ids are tombstoned; the rows of ``payload`` are added (replacing any earlier
        row with the same id).
        """
        removed_ids = np.unique(np.asarray(removed, dtype=np.int64))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.writer(catalog):
            current = self.current_version(catalog)
            if current is None:
                raise IndexVersionError(f"catalog {catalog!r} has no base version to add a segment to")
            if base is not None and base != current:
                raise IndexVersionError(f"CURRENT of {catalog!r} moved from {base} to {current}; diff again")
            manifest = self.read_manifest(catalog, current)
            if not len(payload):
                vectors = np.zeros((0, manifest.dim), dtype=np.float32)
            if vectors.shape != (len(payload), manifest.dim):
                raise IndexVersionError(
                    f"segment vectors {vectors.shape} do not fit {len(payload)} rows of {manifest.dim}-d"
                )
            seqs = self.segment_seqs(catalog, current)
            seq = (seqs[-1] if seqs else 0) + 1
            self._write_segment(catalog, current, seq, removed_ids, vectors, payload)
        self._changed(catalog)
        return f"{current}+{seq}"

    def _write_segment(
        self,
        catalog: str,
        base: str,
        seq: int,
        removed: npt.NDArray[np.int64],
        vectors: npt.NDArray[np.float32],
        payload: Payload,
    ) -> None:
        ddir = self.deltas_dir(catalog, base)
        ddir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix("segment"), dir=ddir))
        try:
            np.save(tmp / REMOVED_FILE, removed)
            np.save(tmp / SEGMENT_VECTORS_FILE, vectors)
            np.savez(tmp / PAYLOAD_FILE, **payload.to_arrays())  # type: ignore[arg-type]
            written = sorted(tmp.iterdir())
            files = {p.name: sha256_file(p) for p in written}
            info = SegmentInfo(
                seq=seq,
                base=base,
                removed=len(removed),
                added=len(payload),
                checksum=_combined(files),
                created_at=datetime.now(UTC).isoformat(),
                files=files,
                sizes={p.name: p.stat().st_size for p in written},
            )
            (tmp / SEGMENT_FILE).write_text(json.dumps(asdict(info), indent=2))
            tmp.rename(ddir / f"{seq:06d}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def load_segment(self, catalog: str, base: str, seq: int, dim: int) -> DeltaSegment:
        info = self.read_segment_info(catalog, base, seq)
        sdir = self.deltas_dir(catalog, base) / f"{seq:06d}"
        try:
            actual = {name: sha256_file(sdir / name) for name in info.files}
        except OSError as exc:
            raise IndexVersionError(f"{sdir}: missing file ({exc})") from exc
        if actual != info.files or _combined(actual) != info.checksum or info.base != base:
            raise IndexVersionError(f"{sdir}: checksum mismatch, refusing a corrupt delta segment")
        removed = np.load(sdir / REMOVED_FILE, allow_pickle=False)
        vectors = np.load(sdir / SEGMENT_VECTORS_FILE, allow_pickle=False)
        with np.load(sdir / PAYLOAD_FILE, allow_pickle=False) as arrays:
            payload = Payload.from_arrays(dict(arrays))
        if len(payload) != info.added or (len(payload) and vectors.shape != (info.added, dim)):
            raise IndexVersionError(f"{sdir}: segment shape does not match its base ({dim}-d)")
        return DeltaSegment(seq, removed.astype(np.int64), vectors.astype(np.float32), payload)

    def load_live(
        self,
        catalog: str,
        *,
        model_spec: str | None = None,
        held: LiveIndex | None = None,
    ) -> LiveIndex:
        """CURRENT with every delta segment applied; with ``held`` (same base), only newer segments load."""
        base = self.current_version(catalog)
        if base is None:
            raise IndexVersionError(f"catalog {catalog!r} has no published index")
        seqs = self.segment_seqs(catalog, base)
        if held is not None and held.base_version == base:
            newer = [s for s in seqs if s > held.seq]
            return held.with_segments([self.load_segment(catalog, base, s, held.dim) for s in newer])
        manifest, index = self.load(catalog, base, model_spec=model_spec)
        return LiveIndex(index, base, [self.load_segment(catalog, base, s, manifest.dim) for s in seqs])

    def _carry_segments(self, catalog: str, carry_from: tuple[str, int], new_base: str) -> None:
        old_base, after = carry_from
        for seq in self.segment_seqs(catalog, old_base):
            if seq <= after:
                continue
            dim = self.read_manifest(catalog, old_base).dim
            seg = self.load_segment(catalog, old_base, seq, dim)
            seqs = self.segment_seqs(catalog, new_base)
            self._write_segment(
                catalog, new_base, (seqs[-1] if seqs else 0) + 1, seg.removed, seg.vectors, seg.payload
            )
