"""Bulk search on Ray Data: the query manifest streamed into an actor pool of searchers.

Each actor builds a ``Runtime`` (models, index, catalog rows) once and searches chunks with the
same ``search_chunk`` as the local runner (a chunk is one batch: its crops in one embedder call,
its vectors in one FAISS search); the driver writes each chunk's part file as it
arrives (``service.bulk_search.run_bulk``). A killed actor is restarted by Ray and its chunk
retried; a chunk written twice overwrites itself, and the merge keeps one row set per query.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from catalog_ingest.fetch import Fetcher
from lookalike.settings import Settings
from on_ray.cluster import connect, worker_count
from on_ray.ingest import worker_settings
from on_ray.manifest_source import manifest_datasource, stream_chunks, unpickle_rows
from service.bulk_search import (
    QUERY_COLUMNS,
    BulkOptions,
    ChunkResult,
    ChunkSource,
    bulk_searcher,
    search_chunk,
)
from service.runtime import Runtime


class SearchWorker:
    """A Ray Data actor: one runtime, then chunks of query rows in, pickled ``ChunkResult`` out."""

    def __init__(self, settings: Settings, options: BulkOptions, base: str, done: frozenset[int]) -> None:
        settings = worker_settings(settings)
        self.runtime = Runtime(settings, cores=max(1, round(settings.ray.cpus_per_worker)))
        self.settings, self.options, self.base, self.done = settings, options, Path(base), done
        self.fetcher = Fetcher(settings.ingest)
        self.searcher = bulk_searcher(self.runtime.search, settings, self.runtime.execution.cores)
        self.runtime.search.indexes.get(options.catalog)  # load the index before the first chunk

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        rows = unpickle_rows(batch)
        if rows and rows[0].number in self.done:
            return {"chunk": []}
        result = search_chunk(rows, self.searcher, self.options, self.fetcher, self.base)
        return {"chunk": [pickle.dumps(result)]}


def ray_chunks(manifest: Path, options: BulkOptions, settings: Settings, base: Path) -> ChunkSource:
    """The chunks searched by an actor pool on the cluster that ``settings.ray`` names."""

    def source(done: set[int]) -> Iterator[ChunkResult]:
        import ray

        connect(settings.ray)
        stream_chunks()
        workers = worker_count(settings.ray)
        dataset = ray.data.read_datasource(
            manifest_datasource(manifest, options.chunk_rows, required=QUERY_COLUMNS),
            override_num_blocks=1,
            ray_remote_args={"num_cpus": 0},
        ).map_batches(
            SearchWorker,
            fn_constructor_args=(settings, options, str(base), frozenset(done)),
            batch_size=1,  # one chunk per call
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=settings.ray.cpus_per_worker,
            num_gpus=settings.ray.gpus_per_worker or None,
        )
        for row in dataset.iter_rows():
            yield pickle.loads(row["chunk"])

    return source
