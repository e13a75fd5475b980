"""Benchmarks: rerunnable harnesses whose numbers go into docs/BENCHMARKS.md."""
