"""``lookalike serve``: run the API with uvicorn (an app factory, so ``--workers`` > 1 works)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from lookalike.settings import load_settings

APP_FACTORY = "api.app:create_app"
OUR_LOGGERS = ("api", "lookalike", "detector", "embedder", "index", "catalog_ingest")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus our own loggers on the same handler (applied in every worker)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG, "loggers": dict(LOGGING_CONFIG["loggers"])}
    for name in OUR_LOGGERS:
        config["loggers"][name] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def serve(
    config: Annotated[
        Path | None,
        typer.Option(help="TOML settings file (also read by every worker).", exists=True, dir_okay=False),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes, each with its own models (default: api.workers)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve the search API over HTTP."""
    from api.server import run

    settings = load_settings(config)  # sets LOOKALIKE_CONFIG, so workers load the same file
    # Migrate once here: workers starting together would race to create the schema.
    from lookalike.store import CatalogStore

    store = CatalogStore(settings.db_url)
    try:
        store.migrate()
    finally:
        store.close()
    host, port = host or settings.api.host, port or settings.api.port
    typer.echo(f"lookalike: the web page at http://{host}:{port}/ui/, the API at http://{host}:{port}/docs")
    run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.api.workers or os.cpu_count() or 1,
        log_level=log_level.lower(),
        log_config=log_config(log_level),
    )
