"""``RaySource``: catalog ingest as a Ray Data pipeline.

read (one streaming task, a block per ``ray.batch_rows`` rows: ``manifest_source``) ->
``map_batches(IngestWorker)`` on an actor pool, a block per call (each actor loads the detector
and embedder once; CPU actors, or GPU actors with ``ray.gpus_per_worker``) -> the driver applies
each prepared batch in manifest order (``apply_prepared``: the local runner's decisions, so the
same rows and the same index) and publishes the index at the end. Ray restarts a killed actor
and retries its batch.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog_ingest import catalog_detector_settings
from catalog_ingest.fetch import Fetcher
from catalog_ingest.manifest import iter_manifest
from catalog_ingest.pipeline import RunState, Stages
from catalog_ingest.prepared import Memo, PreparedBatch, apply_prepared, prepare_rows
from lookalike.settings import Settings
from on_ray.cluster import connect, worker_count
from on_ray.manifest_source import manifest_datasource, stream_chunks, unpickle_rows
from service.runtime import Runtime


def worker_settings(settings: Settings) -> Settings:
    """The models of one actor use the CPUs the actor reserved, not every core of the node."""
    threads = max(1, round(settings.ray.cpus_per_worker))
    return settings.model_copy(
        update={
            "embedder": settings.embedder.model_copy(update={"threads": threads}),
            "detector": settings.detector.model_copy(update={"threads": threads}),
        }
    )


class IngestWorker:
    """A Ray Data actor: loads the models once, then prepares batches of manifest rows."""

    def __init__(self, settings: Settings, catalog: str, base: str) -> None:
        settings = worker_settings(settings)
        runtime = Runtime(settings, cores=max(1, round(settings.ray.cpus_per_worker)))
        parts = runtime.ingest_parts(catalog)
        embedder = parts.embedder()
        self.stages = Stages(
            settings,
            parts.store,
            catalog,
            Path(base),
            detector=parts.detector(),
            detector_settings=catalog_detector_settings(settings),
            embedder=embedder,
            model_spec=embedder.spec,
        )
        self.fetcher = Fetcher(settings.ingest)
        self.memo = Memo()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[bytes]]:
        prepared = prepare_rows(unpickle_rows(batch), self.stages, self.fetcher, self.memo)
        return {"prepared": [pickle.dumps(prepared)]}


@dataclass
class RaySource:
    """Feeds ``ingest_manifest`` from a Ray Data pipeline (``--runner ray``)."""

    settings: Settings
    manifest: Path
    loads_models: bool = False
    total: int | None = None

    def __post_init__(self) -> None:
        # Fail on an unreadable manifest here, before any cluster starts.
        next(iter(iter_manifest(self.manifest)), None)

    def item_ids(self) -> Iterator[str | None]:
        return (
            None if raw.values.get("item_id") is None else str(raw.values["item_id"])
            for raw in iter_manifest(self.manifest)
        )

    def run(self, stages: Stages, state: RunState, advance: Any) -> None:
        import ray

        ray_settings = self.settings.ray
        connect(ray_settings)
        stream_chunks()
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        dataset = ray.data.read_datasource(
            manifest_datasource(self.manifest, ray_settings.batch_rows),
            override_num_blocks=1,
            ray_remote_args={"num_cpus": 0},  # reading is light: every CPU goes to the model actors
        ).map_batches(
            IngestWorker,
            fn_constructor_args=(self.settings, stages.catalog, str(stages.base)),
            batch_size=1,  # one chunk of ``batch_rows`` rows per call
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=worker_count(ray_settings)),
            num_cpus=ray_settings.cpus_per_worker,
            num_gpus=ray_settings.gpus_per_worker or None,
        )
        for row in dataset.iter_rows():
            batch: PreparedBatch = pickle.loads(row["prepared"])
            apply_prepared(batch, stages, state)
            advance(len(batch.rows))
