"""Run a benchmark through the real search pipeline, in process.

The catalog is ingested with ``catalog_ingest.ingest_manifest`` into its own data folder
(SQLite + index versions) under ``<cache_dir>/eval/<key>``, where the key hashes the
manifest, the catalog image bytes, the embedder and the ingest settings; a later run with
the same key reuses it. Queries then go through ``SearchService.search_bytes`` exactly as
``POST /v1/search`` does (same decode limits and reduced-scale JPEG decode, same detector,
embedder and merge): there is no separate evaluation mode to drift apart.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from evaluation.benchmark import QUERIES_FILE, Benchmark, Query, file_sha256
from evaluation.metrics import QueryOutcome, RegionOutcome
from lookalike.errors import BadImageError, ImageTooLargeError, ManifestError
from lookalike.settings import Settings
from lookalike.types import SearchResult
from service.runtime import Runtime
from service.search import SearchRequest, merged_ranking

log = logging.getLogger(__name__)

EVAL_CATALOG = "eval"
SEARCH_K = 20
MARKER_FILE = "eval-catalog.json"


@dataclass(frozen=True)
class CatalogCache:
    """Where an ingested benchmark catalog lives and whether this run reused it."""

    key: str
    data_dir: Path
    reused: bool
    ingest_s: float
    index_version: str | None
    items: int


@dataclass
class QueryRecord:
    """One query's outcome plus what the report needs to show it (paths, sizes)."""

    query: Query
    outcome: QueryOutcome
    image_size: tuple[int, int]


@dataclass
class EvalRun:
    benchmark: Benchmark
    settings: Settings
    catalog: CatalogCache
    records: list[QueryRecord]
    embedder_spec: str
    detector_spec: str
    wall_s: float
    total_queries: int = 0
    """Queries in the benchmark file; ``records`` may hold fewer with a limit."""
    git_commit: str = "unknown"
    """The code version, read when the run started (others may commit while it runs)."""
    item_images: dict[str, Path] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[QueryOutcome]:
        return [r.outcome for r in self.records]


def git_commit(repo: Path | None = None) -> str:
    """HEAD's sha, with ``-dirty`` when tracked files differ; ``unknown`` outside a checkout."""
    cwd = repo or Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def catalog_key(bench: Benchmark, settings: Settings) -> str:
    """Hash of everything that changes the ingested catalog's vectors (not the query-side detector)."""
    images = hashlib.sha256()
    for path in sorted(set(catalog_image_paths(bench).values())):
        images.update(path.name.encode())
        images.update(file_sha256(path).encode())
    parts: dict[str, Any] = {
        "manifest_sha256": bench.catalog_sha256,
        "images_sha256": images.hexdigest(),
        "embedder": settings.embedder.model_dump(include={"spec", "image_size", "flip_average"}),
        "ingest": settings.ingest.model_dump(include={"catalog_detector", "max_pixels", "max_image_bytes"}),
        "index_factory": settings.index.factory,
    }
    if settings.embedder.colour_histogram:  # only when set, so the caches of older runs stay valid
        parts["colour_histogram"] = True
    if settings.embedder.adapter is not None:  # a fitted adapter's file names its version
        parts["adapter"] = Path(settings.embedder.adapter).name
    if settings.ingest.catalog_detector != "none":  # its region filters shape the catalog vectors too
        parts["catalog_detector"] = settings.detector.model_dump(
            include={
                "confidence",
                "iou",
                "imgsz",
                "max_regions",
                "min_box_fraction",
                "include_whole_image",
                "pair_categories",
            }
        )
        if settings.detector.flip_tta is not None:  # only when set, so older caches stay valid
            parts["catalog_detector"]["flip_tta"] = settings.detector.flip_tta
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def catalog_image_paths(bench: Benchmark) -> dict[str, Path]:
    """item_id -> its first catalog photo (for thumbnails and the cache key)."""
    out: dict[str, Path] = {}
    with bench.catalog_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            item_id, image = row["item_id"].strip(), row["image"].strip()
            path = Path(image) if Path(image).is_absolute() else bench.root / image
            out.setdefault(item_id, path)
    return out


def eval_settings(settings: Settings, data_dir: Path) -> Settings:
    """The user's models and limits, with storage moved into the cache folder (SQLite, own indexes);
    the model exports stay where the user's settings keep them (made once, shared). The upload
    safety gate is off: an evaluation measures retrieval, and a benchmark photo the gate would
    refuse (one grocery photo scores 0.55 on a refuse class) must not end the run; `bench.safety` measures the
    gate itself."""
    no_gate = settings.safety.model_copy(update={"rules": [], "tenants": {}, "catalog_photos": False})
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": None,
            "export_dir": settings.onnx_dir.resolve(),
            "safety": no_gate,
        }
    )


RuntimeFactory = Callable[[Settings], Runtime]


def prepare_catalog(
    bench: Benchmark, settings: Settings, *, progress: bool = True, make_runtime: RuntimeFactory = Runtime
) -> tuple[CatalogCache, Runtime]:
    """Ingest the benchmark catalog, or reuse the folder whose key matches."""
    key = catalog_key(bench, settings)
    data_dir = (settings.cache_dir / "eval" / key).resolve()
    runtime = make_runtime(eval_settings(settings, data_dir))
    _load_embedder(runtime)
    fingerprint = embedder_fingerprint(runtime)
    marker = data_dir / MARKER_FILE
    if marker.is_file():
        info = json.loads(marker.read_text())
        if (
            info.get("key") == key
            and info.get("embedder_fingerprint") == fingerprint
            and runtime.index_store.current_version(EVAL_CATALOG) is not None
        ):
            log.info("eval catalog reused: %s", data_dir)
            return CatalogCache(
                key, data_dir, True, 0.0, info.get("index_version"), int(info.get("items", 0))
            ), runtime
    if data_dir.exists():
        shutil.rmtree(data_dir)  # a half-built catalog from an interrupted run
    data_dir.mkdir(parents=True)
    from catalog_ingest.pipeline import ingest_manifest

    started = time.perf_counter()
    report = ingest_manifest(
        runtime.ingest_parts(),
        bench.catalog_csv,
        EVAL_CATALOG,
        images_root=bench.root,
        rejects_path=data_dir / "rejects.csv",
        progress=progress,
    )
    elapsed = time.perf_counter() - started
    if report.rejects:
        first = "; ".join(f"line {r.row} ({r.item_id}): {r.reason}" for r in report.rejects[:5])
        raise ManifestError(
            f"{bench.catalog_csv}: {len(report.rejects)} catalog row(s) could not be ingested, so recall "
            f"would be wrong: {first}"
        )
    if report.index_version is None:
        raise ManifestError(f"{bench.catalog_csv}: ingest produced no index")
    marker.write_text(
        json.dumps(
            {
                "key": key,
                "embedder_fingerprint": fingerprint,
                "index_version": report.index_version,
                "items": report.loaded_items,
                "ingest_s": elapsed,
            },
            indent=2,
        )
    )
    return CatalogCache(key, data_dir, False, elapsed, report.index_version, report.loaded_items), runtime


def embedder_fingerprint(runtime: Runtime) -> str:
    """Hash of the catalog embedder's vector for a fixed synthetic image (rounded to 1e-3).

    The cache key names the embedder by its spec; this catches a changed model or
    preprocessing behind an unchanged spec, which would otherwise reuse stale catalog vectors.
    It is the embedder the ingest uses (fp32 when queries run bf16: ``embedder.catalog_settings``),
    so queries in bf16 search the catalog fp32 queries search.
    """
    y, x = np.mgrid[0:96, 0:128].astype(np.float32)
    pattern = np.stack([x * 2.0, y * 2.6, (x + y) % 64 * 4.0], axis=-1)
    probe = Image.fromarray(pattern.clip(0, 255).astype(np.uint8), "RGB")
    catalog_embedder = runtime.models.catalog_embedder(runtime.settings.embedder)  # opens no store
    vector = catalog_embedder.embed_images([probe])[0]
    return hashlib.sha256(np.round(vector, 3).astype(np.float32).tobytes()).hexdigest()[:16]


def _load_embedder(runtime: Runtime) -> None:
    """Load the embedder now, so its load time is not counted as query latency."""
    runtime.embedder  # noqa: B018 - cached_property: loads the model


def outcome_of(query: Query, result: SearchResult, timings: dict[str, float]) -> QueryOutcome:
    regions = tuple(
        RegionOutcome(r.region.box, tuple((m.item.item_id, m.score) for m in r.matches))
        for r in result.regions
    )
    outcome = QueryOutcome(query.query_id, query.relevant, regions, query.boxes, timings, query.ignore)
    # The metrics' merge must be the served one; a divergence would make every number suspect.
    if outcome.ranking()[:SEARCH_K] != merged_ranking(result, SEARCH_K):
        raise AssertionError(f"query {query.query_id}: evaluation ranking differs from merged_ranking")
    return outcome


def run_queries(
    bench: Benchmark,
    runtime: Runtime,
    *,
    progress: bool = True,
    on_query: Callable[[QueryRecord], None] | None = None,
) -> list[QueryRecord]:
    """Each query's bytes through ``SearchService.search_bytes``, the call ``POST /v1/search`` makes.

    The eval runtime is not a serving one, so there is no result cache and no cross-request
    batching: every query is computed, and timed, on its own.
    """
    api = runtime.settings.api
    request = SearchRequest(catalog=EVAL_CATALOG, k=SEARCH_K)
    records: list[QueryRecord] = []
    for query in tqdm(bench.queries, unit="query", desc=f"eval {bench.name}", disable=not progress):
        data = query.image.read_bytes()
        start = time.perf_counter()
        try:
            result = runtime.search.search_bytes(
                data,
                request,
                max_bytes=api.max_upload_bytes,
                max_pixels=api.max_pixels,
                source=str(query.image),
            )
        except (BadImageError, ImageTooLargeError) as exc:
            raise ManifestError(
                f"{bench.root / QUERIES_FILE}:{query.line}: query image unusable: {exc}"
            ) from exc
        total_ms = (time.perf_counter() - start) * 1000.0
        timings = {**result.timings_ms, "total": total_ms}
        size = (result.image_width, result.image_height)
        record = QueryRecord(query, outcome_of(query, result, timings), size)
        records.append(record)
        if on_query is not None:
            on_query(record)
    return records


def run_benchmark(
    bench: Benchmark,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: bool = True,
    make_runtime: RuntimeFactory = Runtime,
) -> EvalRun:
    """Ingest (or reuse) the whole catalog, search every query (or the first ``limit``), collect outcomes."""
    started = time.perf_counter()
    commit = git_commit()
    cache, runtime = prepare_catalog(bench, settings, progress=progress, make_runtime=make_runtime)
    records = run_queries(bench.limited(limit), runtime, progress=progress)
    return EvalRun(
        benchmark=bench,
        settings=runtime.settings,
        catalog=cache,
        records=records,
        embedder_spec=runtime.embedder.spec,
        detector_spec=runtime.settings.detector.spec,
        wall_s=time.perf_counter() - started,
        total_queries=len(bench.queries),
        git_commit=commit,
        item_images=catalog_image_paths(bench),
    )


__all__ = [
    "EVAL_CATALOG",
    "SEARCH_K",
    "CatalogCache",
    "EvalRun",
    "QueryRecord",
    "catalog_key",
    "prepare_catalog",
    "run_benchmark",
    "run_queries",
]
