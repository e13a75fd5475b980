"""``lookalike ingest``: load a catalog manifest into the store and publish its index.

Read -> fetch -> hash/dedup -> decode -> detect -> embed -> write -> index, as plain
functions over batches (``pipeline.py``). Bad rows are reported, never fatal. Loads are
additive: rows add items and images (identical bytes are stored and embedded once), nothing
is deleted, and re-running a manifest changes nothing.
"""

from catalog_ingest.parts import IngestParts, PhotoScreen, catalog_detector_settings
from catalog_ingest.pipeline import ingest_manifest
from catalog_ingest.report import IngestReport, Reject

__all__ = [
    "IngestParts",
    "IngestReport",
    "PhotoScreen",
    "Reject",
    "catalog_detector_settings",
    "ingest_manifest",
]
