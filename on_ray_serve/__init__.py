"""lookalike's online API on Ray Serve: ``lookalike serve --runner ray`` (docs/SCALE.md).

The same FastAPI app as ``lookalike serve`` is the ingress deployment (``serve.ingress``): HTTP,
decoding, the FAISS search and the catalog rows. Its runtime's detector and embedder are
proxies (``remote_models``) that call two model deployments through handles, where
``@serve.batch`` gathers concurrent requests into one model call. Replicas, autoscaling and GPUs
come from ``settings.ray.serve``. Nothing in ``api`` knows about Ray: the app gets a ``Runtime``
whose models live elsewhere, as it does for Triton. Ray is imported only when this runs.
"""
