"""Index stage: FAISS build, persist, version, load, search. See ``vector_index.py``."""

from index.vector_index import VectorIndex, gpu_available
from index.versions import IndexManifest, IndexStore, IndexVersionError

__all__ = ["IndexManifest", "IndexStore", "IndexVersionError", "VectorIndex", "gpu_available"]
