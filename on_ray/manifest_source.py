"""A Ray Data source over a manifest read by lookalike's own reader, a chunk of rows at a time.

One read task streams the file (``iter_manifest``): a manifest of millions of rows is never in
one process's memory, and rows keep their manifest line numbers and parsing rules, so the Ray
runner rejects exactly the rows the local runner rejects.

Each chunk of rows travels as a block of its own: one Arrow row holding the pickled chunk, with
Ray Data's block shaping narrowed to one such row (``stream_chunks``). Left to its default, Ray
Data packs a task's output into blocks of up to 128 MiB: the read task's whole manifest became
one block, so the actor pool saw one input and ran one actor however many it had ("the operator
only received 1 input(s)"), and that actor's results reached the driver in one piece at the end
(a killed actor then redid everything it had done).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from catalog_ingest.manifest import REQUIRED_COLUMNS, RawRow, chunked, iter_manifest

COLUMN = "rows"
"""The one column of a chunk's block: the pickled list of its ``RawRow``s."""


def chunk_blocks(
    path: Path, rows_per_chunk: int, required: tuple[str, ...] = REQUIRED_COLUMNS
) -> Iterator[Any]:
    """One-row pyarrow tables, each the pickled list of ``rows_per_chunk`` manifest rows."""
    import pyarrow as pa

    for chunk in chunked(iter_manifest(path, required), rows_per_chunk):
        yield pa.table({COLUMN: pa.array([pickle.dumps(list(chunk))], pa.binary())})


def unpickle_rows(batch: dict[str, Any]) -> list[RawRow]:
    """The manifest rows of a ``map_batches`` batch (one chunk, or several)."""
    return [row for value in batch[COLUMN] for row in pickle.loads(value)]


def stream_chunks() -> None:
    """Ray Data blocks of one chunk each in this driver, so every actor gets work and each chunk's
    result comes back as soon as it is done (see the module doc). Call before building a dataset."""
    from ray.data import DataContext

    DataContext.get_current().target_max_block_size = 1  # never pack two rows (chunks) together


def manifest_datasource(path: Path, rows_per_chunk: int, required: tuple[str, ...] = REQUIRED_COLUMNS) -> Any:
    """A ``ray.data.Datasource`` for ``ray.data.read_datasource`` (built here: Ray is imported
    lazily): one read task, its blocks the manifest's chunks in order."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    def read() -> Iterator[Any]:
        return chunk_blocks(path, rows_per_chunk, required)

    class ManifestDatasource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[ReadTask]:
            metadata = BlockMetadata(
                num_rows=None, size_bytes=None, exec_stats=None, input_files=(str(path),)
            )
            return [ReadTask(read, metadata)]

    return ManifestDatasource()
