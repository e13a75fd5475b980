"""Ingest split in two for distributed runners: workers *prepare* rows, one writer *applies* them.

``prepare_rows`` (in a worker: a Ray actor, a process) does the heavy part of a batch: fetch,
hash, decode, detect and embed whatever the store does not have yet. ``apply_prepared`` (in the
one process that owns the run) makes the same decisions, in manifest order, as the local loop:
the same rows, rejects and items, so a catalog loaded either way is the same catalog.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from catalog import RegionRecord
from catalog_ingest.fetch import Fetcher
from catalog_ingest.manifest import RawRow
from catalog_ingest.pipeline import (
    Fetched,
    RunState,
    Stages,
    accept_rows,
    fetch_rows,
    lookup_known,
    parse_rows,
    remember_stored_items,
)
from catalog_ingest.regions import embed_regions
from catalog_ingest.report import IngestReport
from lookalike.errors import ClientError
from lookalike.types import DecodedImage


@dataclass(frozen=True, slots=True)
class PreparedRow:
    """One manifest row after a worker's pass. ``decoded`` and ``regions`` are None when the store
    already had the bytes' vectors (nothing to decode or embed)."""

    raw: RawRow
    sha256: str | None = None
    fetch_error: str | None = None
    decoded: tuple[int, int] | str | None = None
    """(width, height), or why the bytes do not decode."""
    regions: list[RegionRecord] | None = None


@dataclass
class PreparedBatch:
    model_spec: str
    rows: list[PreparedRow] = field(default_factory=list)


Outcome = tuple[tuple[int, int] | str, list[RegionRecord] | None]


class Memo:
    """The last few thousand images a worker decoded and embedded: a manifest that names one photo
    many times (rows of different items) embeds it once per worker, not once per row."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[str, Outcome] = OrderedDict()

    def get(self, sha: str) -> Outcome | None:
        found = self._items.get(sha)
        if found is not None:
            self._items.move_to_end(sha)
        return found

    def put(self, sha: str, outcome: Outcome) -> None:
        self._items[sha] = outcome
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def prepare_rows(raw_rows: Sequence[RawRow], stages: Stages, fetcher: Fetcher, memo: Memo) -> PreparedBatch:
    """Fetch, hash, decode and embed the rows' images that the store lacks (worker side)."""
    assert stages.embedder is not None and stages.detector is not None and stages.model_spec is not None
    assert stages.detector_settings is not None
    scratch = RunState(IngestReport(catalog=stages.catalog))
    rows = parse_rows(raw_rows, stages, scratch)
    fetched = fetch_rows(rows, fetcher, scratch)
    fetch_errors = {r.row: r.reason for r in scratch.report.rejects}
    by_number = {f.row.number: f for f in fetched}
    shas = list(dict.fromkeys(f.sha256 for f in fetched))
    stored, cached = lookup_known(shas, stages)
    new = [s for s in shas if not (s in stored and stored[s].has_regions) and s not in cached]
    outcomes: dict[str, Outcome] = {}
    to_embed: list[tuple[str, DecodedImage]] = []
    for sha in new:
        remembered = memo.get(sha)
        if remembered is not None:
            outcomes[sha] = remembered
            continue
        entry = next(f for f in fetched if f.sha256 == sha)
        try:
            image = stages.decode(entry.data, entry.row.ref.source)
        except ClientError as exc:
            outcomes[sha] = (exc.detail, None)
            continue
        to_embed.append((sha, image))
    if to_embed:
        embedded = embed_regions(
            [image for _, image in to_embed],
            stages.detector,
            stages.embedder,
            stages.detector_settings,
            stages.settings.embedder.batch_size,
        )
        for (sha, image), found in zip(to_embed, embedded, strict=True):
            outcomes[sha] = ((image.width, image.height), found)
    for sha, outcome in outcomes.items():
        memo.put(sha, outcome)
    batch = PreparedBatch(stages.model_spec)
    for raw in raw_rows:
        got = by_number.get(raw.number)
        if got is None:
            batch.rows.append(PreparedRow(raw, fetch_error=fetch_errors.get(raw.number)))
            continue
        decoded, regions = outcomes.get(got.sha256, (None, None))
        batch.rows.append(PreparedRow(raw, got.sha256, decoded=decoded, regions=regions))
    return batch


def apply_prepared(batch: PreparedBatch, stages: Stages, state: RunState) -> None:
    """Decide and write one prepared batch exactly as the local loop would (writer side)."""
    stages.model_spec = batch.model_spec
    raw_rows = [p.raw for p in batch.rows]
    state.report.rows += len(raw_rows)
    prepared = {p.raw.number: p for p in batch.rows}
    rows = parse_rows(raw_rows, stages, state)
    fetched: list[Fetched] = []
    regions: dict[str, list[RegionRecord]] = {}
    for row in rows:
        p = prepared[row.number]
        if p.sha256 is None:
            state.reject(row.number, row.item.item_id, row.image, p.fetch_error or "unreadable image")
            continue
        fetched.append(Fetched(row, p.sha256, b""))
        if p.decoded is not None and p.sha256 not in state.decoded:
            state.decoded[p.sha256] = p.decoded
        if p.regions is not None:
            regions[p.sha256] = p.regions
    shas = list(dict.fromkeys(f.sha256 for f in fetched))
    stored, cached = lookup_known(shas, stages)
    remember_stored_items(rows, stages, state)
    write, to_embed = accept_rows(fetched, stages, state, stored, cached)
    missing = [sha for sha in to_embed if sha not in regions]
    if missing:
        raise RuntimeError(f"{len(missing)} new images came back from the workers without vectors")
    write.regions.update((sha, regions[sha]) for sha in to_embed)
    state.report.embedded_images += len(to_embed)
    stages.store.write_batch(stages.catalog, write)
