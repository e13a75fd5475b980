"""lookalike on a Ray cluster: catalog ingest and bulk search as Ray Data pipelines, the online
service on Ray Serve.

The stages know nothing of Ray: ingest workers call ``catalog_ingest.prepared.prepare_rows`` and
the driver applies their output in manifest order (``ingest.RaySource``); bulk search workers call
the same ``SearchService`` as the API (``search``); Serve deployments wrap the same FastAPI app
(``serve``). Everything here imports Ray lazily: without it the rest of lookalike runs as before.
See docs/SCALE.md.
"""
