"""lookalike: visual product search. Core types, settings and the search pipeline live here;
each stage has its own top-level package (detector, embedder, index, catalog_ingest, api,
evaluation)."""

__version__ = "0.1.0"
