"""Index benchmarks: catalog-scale synthetic vectors fitted to real embeddings; recall, QPS, RAM."""
