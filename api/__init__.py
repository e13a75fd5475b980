"""The HTTP service: ``create_app`` builds the FastAPI app; ``lookalike serve`` runs it with uvicorn."""
