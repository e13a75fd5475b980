"""``create_app``: the FastAPI app, its lifespan (background warm-up) and its routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from api.docs import install_docs
from api.fetch import new_http_client
from api.problems import install_problem_handlers
from api.readiness import Warmup
from api.routes import admin, catalog_loads, catalog_writes, catalogs, health, jobs, metrics, search
from api.schemas import Problem
from lookalike.netguard import Resolver
from lookalike.settings import Settings, load_settings
from service.jobs import job_queue, job_runner
from service.runtime import Runtime
from web import router as web_router

log = logging.getLogger(__name__)

DESCRIPTION = """Visual product search: send a screenshot, get similar catalog items per detected product.

Errors are `application/problem+json` documents (RFC 9457) with `type`, `title`, `status`,
`detail` and `instance`."""


def _version() -> str:
    try:
        return version("lookalike")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, resolver: Resolver | None = None
) -> FastAPI:
    """Build the app; models load in the background after start-up, so /healthz answers at once.

    Pass ``runtime`` to share already-loaded models (tests); otherwise one is built from ``settings``
    (default: read from the environment; ``lookalike serve`` passes its own to every worker).
    ``resolver`` replaces the system's DNS for image URLs (tests of rebinding).
    """
    settings = settings or (runtime.settings if runtime is not None else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime if runtime is not None else Runtime(settings, serving=True)
        app.state.search_limiter = anyio.CapacityLimiter(app.state.runtime.search_threads)
        # A server whose database is down still starts: it says so on /readyz, and the warm-up
        # migrates the queue with the catalog when the database comes.
        app.state.jobs = job_queue(settings, migrate=False)
        try:
            await anyio.to_thread.run_sync(app.state.jobs.migrate)
        except SQLAlchemyError as exc:
            log.warning("jobs_migrate_deferred error=%s", exc)
        app.state.warmup = Warmup(
            app.state.runtime, settings.api.preload_catalogs, on_database=[app.state.jobs.migrate]
        )
        app.state.warmup.start()
        runner = (
            job_runner(app.state.runtime, app.state.jobs).start() if settings.jobs.run_in_server else None
        )
        try:
            async with new_http_client(
                allow_private_networks=settings.api.fetch_allow_private_networks,
                allowed_networks=settings.api.fetch_allowed_networks,
                resolver=resolver,
            ) as client:
                app.state.http = client
                yield
        finally:
            if runner is not None:
                # The job in hand goes back to the queue at its next step; another worker resumes it.
                await anyio.to_thread.run_sync(runner.stop, 30.0)

    app = FastAPI(
        title="lookalike",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app, "lookalike")
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(search.router)
    app.include_router(catalogs.router)
    app.include_router(catalog_writes.router)
    app.include_router(catalog_loads.router)
    app.include_router(admin.router)
    app.include_router(admin.self_router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(jobs.router)
    app.include_router(web_router)  # the web page at /ui/, on the public API above
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Routes point at ``#/components/schemas/Problem``; put the schema there."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault(
                "Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            )
            _validation_errors_are_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _validation_errors_are_problems(schema: dict[str, Any]) -> None:
    """FastAPI documents its 422 as ``application/json`` HTTPValidationError; ours answer a problem
    document (``api.problems``): say so, or clients (and schemathesis) are told the wrong type."""
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422") if isinstance(operation, dict) else None
            if response is not None and "HTTPValidationError" in str(response.get("content", "")):
                response["content"] = problem


__all__ = ["create_app"]
