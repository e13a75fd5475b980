"""The interactive API docs (/docs, /redoc), served with their assets from this server.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on an offline machine /docs was a
blank page. The assets come from the pinned ``fastapi-offline`` package (Swagger UI 5, which
reads OpenAPI 3.1, and ReDoc 2) and are served under /static/docs; the pages name no other host.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from lookalike.packaged import package_file

ASSETS = "/static/docs"
SWAGGER_PARAMETERS = {"validatorUrl": None}
"""Swagger UI would otherwise send the spec to validator.swagger.io for a badge."""


def assets_dir() -> Path:
    return package_file("fastapi_offline", "static", "swagger-ui-bundle.js").parent


def install_docs(app: FastAPI, title: str) -> None:
    """/docs, its OAuth2 redirect page, /redoc and their assets (the app is made with docs_url=None)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )


__all__ = ["ASSETS", "install_docs"]
