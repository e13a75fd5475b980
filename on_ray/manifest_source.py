"""A Ray Data source over a manifest read by lookalike's own reader, a block at a time.

One read task streams the file (``iter_manifest``): a manifest of millions of rows is never in
one process's memory, and rows keep their manifest line numbers and parsing rules, so the Ray
runner rejects exactly the rows the local runner rejects.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from catalog_ingest.manifest import REQUIRED_COLUMNS, RawRow, iter_manifest


def row_blocks(
    path: Path,
    rows_per_block: int,
    required: tuple[str, ...] = REQUIRED_COLUMNS,
    *,
    part: int = 0,
    parts: int = 1,
) -> Iterator[Any]:
    """pyarrow tables of pickled ``RawRow``s, ``rows_per_block`` at a time; with ``parts``, only
    every ``parts``-th block from the ``part``-th (one read task of several)."""
    import pyarrow as pa

    block: list[bytes] = []
    number = 0
    for row in iter_manifest(path, required):
        block.append(pickle.dumps(row) if number % parts == part else b"")
        if len(block) == rows_per_block:
            if number % parts == part:
                yield pa.table({"row": pa.array(block, pa.binary())})
            block = []
            number += 1
    if block and number % parts == part:
        yield pa.table({"row": pa.array(block, pa.binary())})


def unpickle_rows(column: Any) -> list[RawRow]:
    return [pickle.loads(value) for value in column]


def manifest_datasource(
    path: Path, rows_per_block: int, required: tuple[str, ...] = REQUIRED_COLUMNS, *, tasks: int = 1
) -> Any:
    """A ``ray.data.Datasource`` for ``ray.data.read_datasource`` (built here: Ray is imported lazily).

    ``tasks`` read tasks each stream the file and keep every ``tasks``-th block: Ray Data sizes an
    actor pool by the inputs it expects, so one read task feeds one actor however many the pool
    asks for. Blocks of several tasks arrive in no fixed order (bulk search keys its chunks by
    their first line; an ingest, applied in manifest order, reads with one task)."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    def read_part(part: int) -> Iterator[Any]:
        return row_blocks(path, rows_per_block, required, part=part, parts=tasks)

    class ManifestDatasource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[ReadTask]:
            metadata = BlockMetadata(
                num_rows=None, size_bytes=None, exec_stats=None, input_files=(str(path),)
            )
            return [ReadTask(functools.partial(read_part, part), metadata) for part in range(tasks)]

    return ManifestDatasource()
