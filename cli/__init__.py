"""The ``lookalike`` command: ``cli.main`` is the root, one module per verb (ingest, serve, eval,
index, detector, demo). A new verb is a new module here, registered in ``cli.main``."""
