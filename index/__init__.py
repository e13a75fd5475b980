"""Index stage: choose and build FAISS indexes, filter, version, update incrementally, hot-swap.

``builder`` picks the index for a catalog size; ``VectorIndex`` is one immutable version;
``LiveIndex`` adds delta segments and tombstones; ``IndexStore`` keeps versions on disk;
``IndexRegistry`` serves the live state to the search pipeline. Everything a caller outside
this package uses is exported here (``SearchableIndex`` and ``SearchFilter`` are what a search
sees). See docs/INDEX.md.
"""

from index.builder import IndexPlan, plan_index
from index.filters import SearchFilter
from index.gpu import gpu_available
from index.live import DeltaSegment, LiveIndex, SearchableIndex
from index.payload import Payload
from index.registry import IndexRegistry, SearchOverrides
from index.vector_index import FilterPolicy, VectorIndex
from index.versions import IndexManifest, IndexStore, IndexVersionError

__all__ = [
    "DeltaSegment",
    "FilterPolicy",
    "IndexManifest",
    "IndexPlan",
    "IndexRegistry",
    "IndexStore",
    "IndexVersionError",
    "LiveIndex",
    "Payload",
    "SearchFilter",
    "SearchOverrides",
    "SearchableIndex",
    "VectorIndex",
    "gpu_available",
    "plan_index",
]
