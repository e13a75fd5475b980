"""GPU placement for FAISS indexes: used when this faiss build has GPU support and sees a GPU.

The CPU path is the default everywhere (this project's machines have no GPU); with
``faiss-gpu`` installed and a device visible, builds train/add on GPU and servers search there.
"""

from __future__ import annotations

from typing import Any

import faiss

_resources: Any = None


def gpu_available() -> bool:
    """True when this faiss build has GPU support and sees a GPU."""
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    return bool(get_num_gpus and get_num_gpus() > 0)


def to_gpu(index: Any, device: int = 0) -> Any:
    """A GPU copy of a CPU index (one shared ``StandardGpuResources`` per process)."""
    global _resources
    if _resources is None:
        _resources = faiss.StandardGpuResources()
    return faiss.index_cpu_to_gpu(_resources, device, index)


def to_cpu(index: Any) -> Any:
    return faiss.index_gpu_to_cpu(index)
