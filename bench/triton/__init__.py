"""Triton benchmarks: the CPU price of the network hop (``cpu``), Model-Analyzer-style sweeps
(``sweep``) and the GPU figures (``gpu``, run on a GPU machine)."""
