"""Connect to a Ray cluster (or start a local one) as ``RaySettings`` say, once per process."""

from __future__ import annotations

import logging
from typing import Any

from lookalike.settings import RaySettings


def connect(settings: RaySettings) -> None:
    """``ray.init`` for this process: a local cluster, the machine's running one, or ray://..."""
    import ray

    if ray.is_initialized():
        return
    quiet: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
    }
    if settings.address is None:
        object_store = settings.object_store_mb * 1024 * 1024 if settings.object_store_mb else None
        ray.init(num_cpus=settings.num_cpus, object_store_memory=object_store, **quiet)
    else:
        ray.init(address=settings.address, **quiet)
    _quiet_data()


def _quiet_data() -> None:
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def worker_count(settings: RaySettings) -> int:
    """Model actors to start: ``workers``, or as many as the cluster's CPUs (or GPUs) hold."""
    import ray

    if settings.workers:
        return settings.workers
    resources = ray.cluster_resources()
    if settings.gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) / settings.gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) / settings.cpus_per_worker))


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
