"""Converters from public data sets to ingest manifests."""
