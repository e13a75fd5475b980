"""Bulk search: a manifest of query images in, one Parquet file of results out.

The manifest (CSV/TSV, JSONL or Parquet) has ``image`` (path, ``file://`` or ``http(s)://``)
and optionally ``query_id`` (default: the row's line number). Rows are searched a chunk at a
time; each chunk's results are written to a part file named by its first line, atomically, so a
run that dies resumes from the parts it finished and a retried chunk overwrites, never adds. The
final merge keeps one row set per query (the first part's), then writes ``results.parquet``
(one row per query region and match) and ``rejects.parquet`` (query, reason).

A chunk is searched as one batch (``service.batch_search``): its images side by side on every
core, its region vectors in one FAISS search, its catalog rows in one lookup; per query the
result is the one a single search gives.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from catalog_ingest.fetch import Fetched, Fetcher
from catalog_ingest.manifest import RawRow, chunked, iter_manifest
from catalog_ingest.rows import ImageRef, RowError, resolve_image
from lookalike.errors import ClientError, ImageFetchError, InvalidParameterError
from lookalike.settings import Settings
from lookalike.types import SearchResult
from service.batch_search import BatchSearcher, ImageLimits, PendingBatch, Query
from service.runtime import Runtime
from service.search import MAX_K, REGION_MODES, SearchRequest, SearchService

QUERY_COLUMNS = ("image",)
CHUNK_ROWS = 32

RESULT_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("query_row", pa.int64()),
        ("image", pa.string()),
        ("region", pa.int32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("x2", pa.float32()),
        ("y2", pa.float32()),
        ("region_category", pa.string()),
        ("region_score", pa.float32()),
        ("rank", pa.int32()),
        ("item_id", pa.string()),
        ("score", pa.float32()),
        ("title", pa.string()),
        ("category", pa.string()),
        ("index_version", pa.string()),
    ]
)
"""One row per (query, region, match); a region without matches has one row with null ``rank``,
a query without regions one row with null ``region``."""

REJECT_SCHEMA = pa.schema(
    [("query_id", pa.string()), ("query_row", pa.int64()), ("image", pa.string()), ("reason", pa.string())]
)


@dataclass(frozen=True)
class BulkOptions:
    """What every query of one bulk job is searched with."""

    catalog: str
    k: int = 10
    regions: str = "auto"
    urls_only: bool = False
    """Manifests that came over HTTP may name http(s) URLs only, never the server's files."""
    allow_private_networks: bool = False
    chunk_rows: int = CHUNK_ROWS
    """Queries per chunk: per part file, per worker call, and what a resumed run redoes at most."""

    def request(self) -> SearchRequest:
        return SearchRequest(catalog=self.catalog, k=self.k, regions=self.regions)  # type: ignore[arg-type]

    def check(self) -> None:
        """The parameters' mistakes, before any query is read."""
        if not 1 <= self.k <= MAX_K:
            raise InvalidParameterError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if self.regions not in REGION_MODES:
            raise InvalidParameterError(
                f"regions must be one of {', '.join(REGION_MODES)}, got {self.regions!r}"
            )


@dataclass
class ChunkResult:
    """The results and rejects of one chunk of queries, as Arrow tables."""

    key: int
    results: pa.Table
    rejects: pa.Table


@dataclass
class BulkSummary:
    queries: int
    searched: int
    rejected: int
    result_rows: int
    results_path: Path
    rejects_path: Path

    def as_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "searched": self.searched,
            "rejected": self.rejected,
            "result_rows": self.result_rows,
            "results_path": str(self.results_path),
            "rejects_path": str(self.rejects_path),
        }


def read_queries(manifest: Path) -> Iterator[RawRow]:
    """The manifest's rows, streamed (a bad file is a ``ManifestError`` naming it)."""
    return iter_manifest(manifest, QUERY_COLUMNS)


def query_id(row: RawRow) -> str:
    value = row.values.get("query_id")
    return str(value) if value is not None else str(row.number)


def bulk_searcher(search: SearchService, settings: Settings, workers: int) -> BatchSearcher:
    """The batch searcher of a bulk run: the API's image limits (an image POST /v1/search refuses
    is a reject here too), ``workers`` threads."""
    api = settings.api
    limits = ImageLimits(api.max_upload_bytes, api.max_pixels, api.max_aspect_ratio)
    return BatchSearcher(search, limits, workers=workers)


@dataclass
class PendingChunk:
    """A chunk whose images are being read and searched; ``finish`` collects its tables."""

    rows: Sequence[RawRow]
    searched: list[RawRow]
    rejects: list[dict[str, Any]]
    batch: PendingBatch

    def finish(self) -> ChunkResult:
        results: list[dict[str, Any]] = []
        rejects = list(self.rejects)
        for row, outcome in zip(self.searched, self.batch.results(), strict=True):
            if isinstance(outcome, ClientError):
                rejects.append(_reject(row, outcome.detail))
            else:
                results.extend(result_rows(row, outcome))
        key = self.rows[0].number if self.rows else 0
        return ChunkResult(
            key,
            pa.Table.from_pylist(results, schema=RESULT_SCHEMA),
            pa.Table.from_pylist(rejects, schema=REJECT_SCHEMA),
        )


def start_chunk(
    rows: Sequence[RawRow], searcher: BatchSearcher, options: BulkOptions, fetcher: Fetcher, base: Path
) -> PendingChunk:
    """Start fetching and searching a chunk's queries; a bad query becomes a reject row, never an error."""
    rejects: list[dict[str, Any]] = []
    refs: list[tuple[RawRow, ImageRef]] = []
    for row in rows:
        image = row.values.get("image")
        try:
            if row.error is not None:
                raise RowError(row.error)
            if image is None:
                raise RowError("no image")
            ref = resolve_image(str(image), base)
            check_ref(ref, options)
        except RowError as exc:
            rejects.append(_reject(row, str(exc)))
            continue
        refs.append((row, ref))
    fetches = fetcher.submit_all([ref for _, ref in refs])
    queries = [Query(ref.source, _reader(fetch)) for (_, ref), fetch in zip(refs, fetches, strict=True)]
    batch = searcher.start(queries, options.request())
    return PendingChunk(rows, [row for row, _ in refs], rejects, batch)


def search_chunk(
    rows: Sequence[RawRow], searcher: BatchSearcher, options: BulkOptions, fetcher: Fetcher, base: Path
) -> ChunkResult:
    """Fetch and search each query of a chunk (see ``start_chunk``)."""
    return start_chunk(rows, searcher, options, fetcher, base).finish()


def _reader(fetch: Future[Fetched]) -> Callable[[], bytes]:
    def read() -> bytes:
        fetched = fetch.result()
        if fetched.data is None:
            raise ImageFetchError(fetched.error or "unreadable image")
        return fetched.data

    return read


def check_ref(ref: ImageRef, options: BulkOptions) -> None:
    if not options.urls_only:
        return
    if not ref.is_url:
        raise RowError("an uploaded manifest names images by http(s) URL only, not by path")
    if not options.allow_private_networks and _private_host(ref.source):
        raise RowError(f"{ref.source} points into a private network")


def _private_host(url: str) -> bool:
    host = urlparse(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable: the fetch fails and says so
    return any(not ipaddress.ip_address(info[4][0]).is_global for info in infos)


def result_rows(row: RawRow, result: SearchResult) -> list[dict[str, Any]]:
    base = {"query_id": query_id(row), "query_row": row.number, "image": str(row.values.get("image"))}
    out: list[dict[str, Any]] = []
    for number, found in enumerate(result.regions):
        box = found.region.box
        region = {
            **base,
            "region": number,
            "x1": box.x1,
            "y1": box.y1,
            "x2": box.x2,
            "y2": box.y2,
            "region_category": found.region.category,
            "region_score": found.region.score,
            "index_version": result.index_version,
        }
        if not found.matches:
            out.append(region)
        for rank, match in enumerate(found.matches):
            item = match.item
            out.append(
                {
                    **region,
                    "rank": rank,
                    "item_id": item.item_id,
                    "score": match.score,
                    "title": item.title,
                    "category": item.category,
                }
            )
    if not out:
        out.append({**base, "index_version": result.index_version})
    return out


def _reject(row: RawRow, reason: str) -> dict[str, Any]:
    image = row.values.get("image")
    return {
        "query_id": query_id(row),
        "query_row": row.number,
        "image": None if image is None else str(image),
        "reason": reason,
    }


class ResultParts:
    """The part files of one bulk job: written atomically, one pair per chunk, merged at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def done(self) -> set[int]:
        """Chunks already written (by this run or a killed one)."""
        return {int(p.stem.split("-")[1]) for p in self.folder.glob("results-*.parquet")}

    def write(self, chunk: ChunkResult) -> None:
        # rejects first: a results file is the mark that its chunk is complete
        _write_atomic(chunk.rejects, self.folder / f"rejects-{chunk.key:012d}.parquet")
        _write_atomic(chunk.results, self.folder / f"results-{chunk.key:012d}.parquet")

    def merge(self, results_path: Path, rejects_path: Path) -> BulkSummary:
        """One row set per query (from the first part that has it), in manifest order."""
        seen: set[int] = set()
        results, rejects = [], []
        for path in sorted(self.folder.glob("results-*.parquet")):
            part = pq.read_table(path)
            part_rejects = pq.read_table(path.with_name(path.name.replace("results-", "rejects-")))
            results.append(_unseen(part, seen))
            rejects.append(_unseen(part_rejects, seen))
            seen.update(part.column("query_row").to_pylist())
            seen.update(part_rejects.column("query_row").to_pylist())
        merged = pa.concat_tables(results) if results else RESULT_SCHEMA.empty_table()
        merged_rejects = pa.concat_tables(rejects) if rejects else REJECT_SCHEMA.empty_table()
        _write_atomic(merged, results_path)
        _write_atomic(merged_rejects, rejects_path)
        searched = len(set(merged.column("query_row").to_pylist()))
        return BulkSummary(
            queries=searched + merged_rejects.num_rows,
            searched=searched,
            rejected=merged_rejects.num_rows,
            result_rows=merged.num_rows,
            results_path=results_path,
            rejects_path=rejects_path,
        )


def _unseen(table: pa.Table, seen: set[int]) -> pa.Table:
    if not seen or table.num_rows == 0:
        return table
    keep = [row not in seen for row in table.column("query_row").to_pylist()]
    return table.filter(pa.array(keep))


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def parts_folder(out: Path, job_id: str | None) -> Path:
    """Where a run's parts live: beside the output, named by the job (one folder per job)."""
    return out.parent / f".{out.name}.{job_id or 'run'}.parts"


def rejects_path_for(out: Path) -> Path:
    return out.with_name(out.stem + "-rejects.parquet")


ChunkSource = Callable[[set[int]], Iterator[ChunkResult]]
"""Yields the results of every chunk not in the given set of finished chunks (local or on Ray)."""


def run_bulk(
    source: ChunkSource,
    out: Path,
    *,
    job_id: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> BulkSummary:
    """Write each chunk as it comes, then merge; resumes from an earlier run's parts."""
    parts = ResultParts(parts_folder(out, job_id))
    done = parts.done()
    finished = 0
    for chunk in source(done):
        parts.write(chunk)
        finished += chunk.results.num_rows and len(set(chunk.results.column("query_row").to_pylist()))
        finished += chunk.rejects.num_rows
        if on_progress is not None:
            on_progress(finished)
    summary = parts.merge(out, rejects_path_for(out))
    for path in parts.folder.glob("*.parquet"):
        path.unlink()
    parts.folder.rmdir()
    return summary


def local_chunks(
    manifest: Path,
    search: SearchService,
    options: BulkOptions,
    settings: Settings,
    base: Path,
    *,
    workers: int = 1,
) -> ChunkSource:
    """The chunks searched in this process by ``workers`` threads; the next chunk is already being
    read and searched while one is collected and written."""

    def source(done: set[int]) -> Iterator[ChunkResult]:
        with Fetcher(settings.ingest) as fetcher, bulk_searcher(search, settings, workers) as searcher:
            pending: deque[PendingChunk] = deque()
            for chunk in chunked(read_queries(manifest), options.chunk_rows):
                if chunk[0].number in done:
                    continue
                pending.append(start_chunk(chunk, searcher, options, fetcher, base))
                if len(pending) > 1:
                    yield pending.popleft().finish()
            while pending:
                yield pending.popleft().finish()

    return source


def chunk_source(
    runtime: Runtime, manifest: Path, options: BulkOptions, *, runner: str = "local", base: Path | None = None
) -> ChunkSource:
    """The local searcher, or Ray actors (``runner="ray"``, the cluster in ``settings.ray``)."""
    base = base or manifest.resolve().parent
    if runner == "ray":
        from on_ray.search import ray_chunks

        return ray_chunks(manifest, options, runtime.settings, base)
    if runner != "local":
        raise InvalidParameterError(f"runner must be 'local' or 'ray', got {runner!r}")
    workers = runtime.execution.cores
    return local_chunks(manifest, runtime.search, options, runtime.settings, base, workers=workers)
