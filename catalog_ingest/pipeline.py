"""``ingest_manifest``: read -> fetch -> hash/dedup -> decode -> detect -> embed -> write -> index.

Each stage is a plain function over one batch of rows; ``RunState`` carries what must be
remembered across batches (items seen, image hashes seen, decode outcomes, the report).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from catalog import CachedEmbedding, CatalogStore, ImageRecord, IngestBatch, ItemRecord, StoredImage
from catalog_ingest.feed import (
    DEFAULT_MAX_REMOVE,
    FEED_MODES,
    FeedMode,
    FeedState,
    apply_feed,
    planned_removals,
)
from catalog_ingest.fetch import Fetcher
from catalog_ingest.ledger import ItemLedger
from catalog_ingest.manifest import RawRow, chunked, iter_manifest
from catalog_ingest.parts import IngestParts, PhotoScreen, catalog_detector_settings
from catalog_ingest.publish import publish_catalog_index
from catalog_ingest.regions import embed_regions
from catalog_ingest.report import IngestReport, Reject, write_rejects, write_unreferenced
from catalog_ingest.rows import ManifestRow, RowError, parse_row, resolve_image
from catalog_ingest.unreferenced import unreferenced_images
from detector import Detector
from embedder import Embedder
from lookalike.errors import ClientError, InvalidParameterError, ManifestError
from lookalike.imaging import decode_image, sha256_hex
from lookalike.settings import DetectorSettings, Settings
from lookalike.types import DecodedImage

CATALOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MIN_BATCH_ROWS = 32
LEDGER_ITEMS = 50_000
"""Items an ``add`` run keeps in memory (about 0.75 kB each); older ones are read back from the
store when a later row names them, so a million-item manifest runs in bounded memory."""


@dataclass
class Stages:
    """What every batch needs, built once per run. Models are None when only validating."""

    settings: Settings
    store: CatalogStore
    catalog: str
    base: Path
    detector: Detector | None = None
    detector_settings: DetectorSettings | None = None
    embedder: Embedder | None = None
    model_spec: str | None = None
    """The embedder's spec (its vectors' name); None when only validating."""
    screen: PhotoScreen | None = None
    """The safety gate for new photos (``safety.catalog_photos``); a refused photo's rows are rejects."""

    @property
    def validate_only(self) -> bool:
        return self.model_spec is None

    def decode(self, data: bytes, source: str) -> DecodedImage:
        limits = self.settings.ingest
        return decode_image(
            data, source=source, max_bytes=limits.max_image_bytes, max_pixels=limits.max_pixels
        )


@dataclass
class RunState:
    report: IngestReport
    ledger: ItemLedger = field(default_factory=ItemLedger)
    accepted_shas: set[str] = field(default_factory=set)
    decoded: dict[str, tuple[int, int] | str] = field(default_factory=dict)
    """sha256 -> (width, height), or the reason the bytes do not decode."""
    loaded_items: set[str] = field(default_factory=set)
    referenced: set[str] = field(default_factory=set)
    feed: FeedState = field(default_factory=lambda: FeedState("add"))

    def reject(self, number: int, item_id: str | None, image: str | None, reason: str) -> None:
        self.report.rejects.append(Reject(number, item_id or "", image or "", reason))
        if item_id:
            self.feed.rejected_items.add(item_id)


@dataclass(frozen=True, slots=True)
class Fetched:
    row: ManifestRow
    sha256: str
    data: bytes


class RowSource(Protocol):
    """Runs every manifest row through the stages: the local loop, or a distributed one
    (``on_ray``) that prepares rows elsewhere and hands them to ``apply_prepared`` in order."""

    @property
    def loads_models(self) -> bool:
        """Whether this process runs the models (else workers do, and only their spec is needed)."""

    @property
    def total(self) -> int | None:
        """Rows in the manifest, when known before the run."""

    def item_ids(self) -> Iterator[str | None]:
        """Every row's item id (a ``sync`` load removes the items no row names)."""

    def run(self, stages: Stages, state: RunState, advance: Callable[[int], None]) -> None: ...


@dataclass
class LocalSource:
    """The manifest streamed from disk, fetched, decoded and embedded here, a batch at a time: a
    manifest of millions of rows is never in memory (rows are counted first, for progress)."""

    manifest: Path
    loads_models: bool = True
    total: int = field(init=False)

    def __post_init__(self) -> None:
        self.total = sum(1 for _ in iter_manifest(self.manifest))  # also: an unreadable file fails here

    def item_ids(self) -> Iterator[str | None]:
        return (_text(raw.values.get("item_id")) for raw in iter_manifest(self.manifest))

    def run(self, stages: Stages, state: RunState, advance: Callable[[int], None]) -> None:
        state.report.rows = self.total
        batch_rows = max(stages.settings.embedder.batch_size, MIN_BATCH_ROWS)
        with Fetcher(stages.settings.ingest) as fetcher:
            for chunk in chunked(iter_manifest(self.manifest), batch_rows):
                process_batch(chunk, stages, state, fetcher)
                advance(len(chunk))


def check_run(catalog: str, images_root: Path | None, mode: str = "add") -> None:
    """The mistakes that stop a run before it reads anything."""
    if not CATALOG_NAME.match(catalog):
        raise InvalidParameterError(
            f"catalog name {catalog!r} must be 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if images_root is not None and not images_root.is_dir():
        raise ManifestError(f"images root {images_root} is not a folder")
    if mode not in FEED_MODES:
        raise InvalidParameterError(f"mode must be one of {', '.join(FEED_MODES)}, got {mode!r}")


def ingest_manifest(
    parts: IngestParts,
    manifest: Path,
    catalog: str,
    *,
    images_root: Path | None = None,
    rejects_path: Path | None = None,
    validate_only: bool = False,
    progress: bool = True,
    on_progress: Callable[[int, int | None], None] | None = None,
    mode: FeedMode = "add",
    max_remove: float = DEFAULT_MAX_REMOVE,
    source: RowSource | None = None,
) -> IngestReport:
    """Load (or with ``validate_only`` just check) a manifest into a catalog.

    Bad rows are counted and written to the rejects CSV, never fatal; only an unreadable
    manifest (``ManifestError``) or a bad catalog name stops the run. ``on_progress(rows done,
    rows or None)`` is called after each batch; an exception it raises stops the run before the
    index is published (a job being cancelled). ``source`` runs the rows elsewhere (default: here).

    ``mode`` (``catalog_ingest.feed``): ``add`` only adds (a stored item's different metadata is a
    conflict); ``upsert`` updates the items the manifest names; ``sync`` also removes the others,
    refusing to remove more than ``max_remove`` of the catalog.
    """
    started = time.perf_counter()
    check_run(catalog, images_root, mode)
    source = source if source is not None else LocalSource(Path(manifest))
    feed = FeedState(mode)
    if mode == "sync":
        named = (n for n in source.item_ids() if n)
        feed.removals = planned_removals(parts.store, catalog, named, max_remove=max_remove)
    settings = parts.settings
    stages = Stages(settings, parts.store, catalog, (images_root or Path(manifest).parent).resolve())
    if not validate_only:
        stages.detector_settings = catalog_detector_settings(settings)
        if source.loads_models:
            stages.detector, stages.embedder = parts.detector(), parts.embedder()
            stages.model_spec = stages.embedder.spec
            stages.screen = parts.screen
    # add: every accepted item is written in its batch, so the ledger may forget old ones (a later
    # row of a forgotten item finds it in the store); feed modes and checks keep every item
    bounded = mode == "add" and not validate_only
    ledger = ItemLedger(max_items=LEDGER_ITEMS if bounded else None)
    report = IngestReport(catalog=catalog, validate_only=validate_only, mode=mode)
    state = RunState(report, ledger=ledger, feed=feed)
    loop_started = time.perf_counter()  # after model loading: images/s measures the pipeline
    done = 0
    with tqdm(total=source.total, unit="row", desc=f"ingest {catalog}", disable=not progress) as bar:

        def advance(rows: int) -> None:
            nonlocal done
            done += rows
            bar.update(rows)
            if on_progress is not None:
                on_progress(done, source.total)

        source.run(stages, state, advance)
    report = state.report
    report.images_per_s = report.embedded_images / max(time.perf_counter() - loop_started, 1e-9)
    if feed.follows_feed and not validate_only:
        loaded = sorted(state.loaded_items)
        outcome = apply_feed(parts.store, catalog, feed, state.ledger.records(loaded), loaded)
        report.added, report.updated = outcome.added, outcome.updated
        report.removed, report.unchanged = outcome.removed, outcome.unchanged
    if stages.model_spec is not None and not validate_only:
        publish_index(parts, stages.model_spec, report)
    if images_root is not None:
        report.unreferenced_images = unreferenced_images(images_root, state.referenced)
    report.rejects.sort(key=lambda r: r.row)
    report.skipped = len(report.rejects)
    report.loaded_items = len(state.loaded_items)
    report.rejects_path = rejects_path or settings.data_dir / "reports" / f"{catalog}-rejects.csv"
    write_rejects(report.rejects_path, report.rejects)
    if report.unreferenced_images:
        report.unreferenced_path = report.rejects_path.with_name(f"{catalog}-unreferenced.txt")
        write_unreferenced(report.unreferenced_path, report.unreferenced_images)
    report.data_dir = settings.data_dir.resolve()
    report.database = parts.store.describe()
    report.elapsed_s = time.perf_counter() - started
    return report


def publish_index(parts: IngestParts, model_spec: str, report: IngestReport) -> None:
    """Index every region vector of the catalog; a new version only if the content changed."""
    settings = parts.settings
    result = publish_catalog_index(
        parts.store,
        parts.index_store,
        report.catalog,
        model_spec=model_spec,
        factory=settings.index.factory,
        use_gpu=settings.index.use_gpu == "auto",
        settings=settings.index,
    )
    report.index_version, report.published, report.indexed_vectors = (
        result.version,
        result.published,
        result.count,
    )


def process_batch(raw_rows: Sequence[RawRow], stages: Stages, state: RunState, fetcher: Fetcher) -> None:
    rows = parse_rows(raw_rows, stages, state)
    fetched = fetch_rows(rows, fetcher, state)
    shas = list(dict.fromkeys(f.sha256 for f in fetched))
    stored, cached = lookup_known(shas, stages)
    remember_stored_items(rows, stages, state)
    pixels = decode_new(fetched, stages, state, stored, cached)
    batch, to_embed = accept_rows(fetched, stages, state, stored, cached)
    if stages.validate_only:
        return
    embed_new(to_embed, pixels, fetched, batch, stages, state)
    stages.store.write_batch(stages.catalog, batch)


def parse_rows(raw_rows: Sequence[RawRow], stages: Stages, state: RunState) -> list[ManifestRow]:
    rows = []
    for raw in raw_rows:
        image = _text(raw.values.get("image"))
        _remember_reference(image, stages.base, state)
        try:
            rows.append(parse_row(raw, stages.base))
        except RowError as exc:
            state.reject(raw.number, _text(raw.values.get("item_id")), image, str(exc))
    return rows


def _remember_reference(image: str | None, base: Path, state: RunState) -> None:
    """Even a rejected row references its file: it must not be reported as unreferenced."""
    if image is None:
        return
    try:
        ref = resolve_image(image, base)
    except RowError:
        return
    if not ref.is_url:
        state.referenced.add(ref.source)


def fetch_rows(rows: list[ManifestRow], fetcher: Fetcher, state: RunState) -> list[Fetched]:
    """Read every row's bytes (pool) and hash them; unreadable images are rejected here."""
    out = []
    for row, result in zip(rows, fetcher.fetch_all([r.ref for r in rows]), strict=True):
        if result.data is None:
            state.reject(row.number, row.item.item_id, row.image, result.error or "unreadable image")
        else:
            out.append(Fetched(row, sha256_hex(result.data), result.data))
    return out


def lookup_known(
    shas: list[str], stages: Stages
) -> tuple[dict[str, StoredImage], dict[str, CachedEmbedding]]:
    """Images already in this catalog, and embeddings of the same bytes made for any catalog."""
    if stages.validate_only or not shas:
        return {}, {}
    assert stages.model_spec is not None and stages.detector_settings is not None
    specs = {"model_spec": stages.model_spec, "detector_spec": stages.detector_settings.spec}
    stored = stages.store.find_images(stages.catalog, shas, **specs)
    missing = [s for s in shas if not (s in stored and stored[s].has_regions)]
    return stored, stages.store.find_cached_embeddings(missing, **specs)


def remember_stored_items(rows: list[ManifestRow], stages: Stages, state: RunState) -> None:
    """``add``: stored metadata is what rows must agree with. Feed modes: rows replace it, so it is
    only remembered, to tell updated items from unchanged ones."""
    feed = state.feed
    new_ids = list(
        {
            r.item.item_id
            for r in rows
            if r.item.item_id not in state.ledger and r.item.item_id not in feed.stored
        }
    )
    found = stages.store.find_items(stages.catalog, new_ids)
    if feed.follows_feed:
        if found and not stages.validate_only:
            feed.remember_stored(stages.store, stages.catalog, found)
        return
    for record in found.values():
        state.ledger.add_stored(record)


def decode_new(
    fetched: list[Fetched],
    stages: Stages,
    state: RunState,
    stored: dict[str, StoredImage],
    cached: dict[str, CachedEmbedding],
) -> dict[str, DecodedImage]:
    """Decode each distinct byte string once per run; bytes with vectors already are not decoded."""
    pixels: dict[str, DecodedImage] = {}
    for item in fetched:
        sha = item.sha256
        if sha in state.decoded or sha in pixels:
            continue
        if not stages.validate_only and ((sha in stored and stored[sha].has_regions) or sha in cached):
            continue
        try:
            image = stages.decode(item.data, item.row.ref.source)
        except ClientError as exc:
            state.decoded[sha] = exc.detail
            continue
        refused = stages.screen(image) if stages.screen is not None else None
        if refused is not None:
            state.decoded[sha] = refused  # the rows naming these bytes are rejected with this reason
            continue
        state.decoded[sha] = (image.width, image.height)
        if not stages.validate_only:
            pixels[sha] = image
    return pixels


def accept_rows(
    fetched: list[Fetched],
    stages: Stages,
    state: RunState,
    stored: dict[str, StoredImage],
    cached: dict[str, CachedEmbedding],
) -> tuple[IngestBatch, list[str]]:
    """Decide each row in manifest order; returns what to write and which hashes to embed."""
    batch = IngestBatch()
    items: dict[str, ItemRecord] = {}
    to_embed: list[str] = []
    report = state.report
    for entry in fetched:
        row, sha = entry.row, entry.sha256
        outcome = state.decoded.get(sha)
        if isinstance(outcome, str):
            state.reject(row.number, row.item.item_id, row.image, outcome)
            continue
        conflict = state.ledger.conflict(row.item)
        if conflict is not None:
            state.reject(row.number, row.item.item_id, row.image, conflict)
            continue
        merged = state.ledger.accept(row.item, f"row {row.number}")
        if row.item.item_id not in state.feed.stored:  # stored items change at the end (feed.py)
            items[row.item.item_id] = merged
        state.loaded_items.add(row.item.item_id)
        state.feed.linked(row.item.item_id, sha)
        batch.links.append((row.item.item_id, sha))
        if sha in state.accepted_shas:
            report.duplicates += 1
            continue
        state.accepted_shas.add(sha)
        report.loaded_images += 1
        if stages.validate_only:
            continue
        known = stored.get(sha)
        if known is not None and known.has_regions:
            report.reused_images += 1
            continue
        if known is None:
            width, height = (cached[sha].width, cached[sha].height) if sha in cached else _size(outcome)
            batch.images.append(ImageRecord(sha, row.ref.source, width, height))
        if sha in cached:
            batch.regions[sha] = cached[sha].regions
            report.reused_images += 1
        else:
            to_embed.append(sha)
    batch.items = list(items.values())
    return batch, to_embed


def embed_new(
    shas: list[str],
    pixels: dict[str, DecodedImage],
    fetched: list[Fetched],
    batch: IngestBatch,
    stages: Stages,
    state: RunState,
) -> None:
    """Detect and embed the images first accepted in this batch."""
    if not shas:
        return
    assert (
        stages.detector is not None and stages.embedder is not None and stages.detector_settings is not None
    )
    images = [pixels.get(sha) or _redecode(sha, fetched, stages) for sha in shas]
    regions = embed_regions(
        images,
        stages.detector,
        stages.embedder,
        stages.detector_settings,
        stages.settings.embedder.batch_size,
    )
    batch.regions.update(zip(shas, regions, strict=True))
    state.report.embedded_images += len(shas)


def _redecode(sha: str, fetched: list[Fetched], stages: Stages) -> DecodedImage:
    # Only when the bytes were first decoded in an earlier batch whose row was rejected.
    entry = next(f for f in fetched if f.sha256 == sha)
    return stages.decode(entry.data, entry.row.ref.source)


def _size(outcome: tuple[int, int] | str | None) -> tuple[int, int]:
    if not isinstance(outcome, tuple):
        raise AssertionError("an accepted new image has been decoded")
    return outcome


def _text(value: object) -> str | None:
    return None if value is None else str(value)
