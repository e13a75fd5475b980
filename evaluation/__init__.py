"""Offline recall evaluation: benchmarks, metrics, the runner and reports behind ``lookalike eval``."""
