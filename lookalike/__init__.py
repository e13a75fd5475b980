"""lookalike: visual product search. This package is the shared ground every stage stands on:
the values that flow between stages (``types``), settings, errors, image decoding, model specs,
packaged weights, batching, devices, ONNX sessions and the execution policy. It imports no
stage; the stages are top-level packages (detector, embedder, index, catalog, catalog_ingest),
wired together in ``service`` and exposed by ``api`` and ``cli``."""

__version__ = "0.1.0"
