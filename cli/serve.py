"""lookalike serve: run the API with uvicorn, in one or more worker processes."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import typer

from cli.options import ConfigOpt
from lookalike.redact import public_reason
from lookalike.settings import load_settings

RUNNERS = ("local", "ray")
OUR_LOGGERS = ("api", "service", "lookalike", "detector", "embedder", "index", "catalog", "catalog_ingest")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus our own loggers on the same handler (applied in every worker)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG, "loggers": dict(LOGGING_CONFIG["loggers"])}
    for name in OUR_LOGGERS:
        config["loggers"][name] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def serve(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Bind address (default: api.host).")
    ] = None,
    port: Annotated[int | None, typer.Option(metavar="N", help="Port (default: api.port).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Worker processes, each with its own models (default: api.workers)."
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(metavar="TEXT", help="critical, error, warning, info or debug.")
    ] = "info",
    runner: Annotated[
        str,
        typer.Option("--runner", metavar="local|ray", help="uvicorn here, or Ray Serve (docs/SCALE.md)."),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="auto|ray://HOST:PORT",
            help="Ray cluster, with --runner ray (default: ray.address; unset: a local cluster).",
        ),
    ] = None,
) -> None:
    """Serve the search API over HTTP (interactive docs at /docs).

    It reads the catalogs in data_dir (./var unless LOOKALIKE_DATA_DIR or --config says otherwise):
    the folder lookalike ingest wrote. Every worker gets these same settings.
    """
    from api.app import create_app
    from api.server import run
    from catalog import CatalogStore
    from lookalike.execution import usable_cores

    if runner not in RUNNERS:
        typer.echo(f"error: --runner must be one of {', '.join(RUNNERS)}, got {runner!r}", err=True)
        raise typer.Exit(2)
    settings = load_settings(config)
    if address is not None:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": address})})
    # Migrate once here: workers starting together would race to create the schema. A database
    # that is not up yet does not stop the server: /readyz answers 503 until it is (then each
    # worker migrates on its own retry; the migration is idempotent).
    store = CatalogStore(settings.db_url)
    try:
        store.migrate()
    except Exception as exc:
        typer.echo(
            f"lookalike: the catalog database is not reachable yet ({public_reason(exc)}); serving anyway, "
            "/readyz answers 503 until it is",
            err=True,
        )
    finally:
        store.close()
    host, port = host or settings.api.host, port or settings.api.port
    if runner == "ray":
        from on_ray_serve.run import serve_until_stopped

        if workers:
            typer.echo("lookalike: --workers does not apply to Ray Serve: see [ray.serve.ingress]", err=True)

        serve_until_stopped(
            settings,
            host,
            port,
            lambda url: typer.echo(f"lookalike: Ray Serve answers the API at {url}/docs"),
        )
        return
    typer.echo(f"lookalike: the web page at http://{host}:{port}/ui/, the API at http://{host}:{port}/docs")
    run(
        # The settings object itself travels to each worker (pickled with uvicorn's config by the
        # spawn): no file name in the environment, and no worker re-reads anything.
        partial(create_app, settings),
        host=host,
        port=port,
        workers=workers or settings.api.workers or usable_cores(),
        log_level=log_level.lower(),
        log_config=log_config(log_level),
    )
