"""Every error the API answers is an RFC 9457 problem-details document, mapped here in one place.

Client mistakes (``ClientError``) keep their own status and title; validation errors name the
offending fields; anything else is a bug: logged with its traceback, answered as a bare 500.
"""

from __future__ import annotations

import logging
import math
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from index.versions import IndexVersionError
from lookalike.errors import CatalogLoadingError, ClientError, NotReadyError, SearchBudgetError
from lookalike.redact import public_reason, without_paths

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:lookalike:problem:"


class MalformedBodyError(ClientError):
    """A body that does not parse as what its Content-Type says (broken JSON, broken multipart)."""

    status = 400
    title = "Malformed request body"


class UnsupportedMediaTypeError(ClientError):
    """A Content-Type the search endpoint does not take."""

    status = 415
    title = "Unsupported media type"


class UrlFetchDisabledError(ClientError):
    """This server is configured not to fetch image URLs (``api.allow_url_fetch = false``)."""

    status = 403
    title = "Image URL fetching is disabled"


class ItemImageNotFoundError(ClientError):
    """The item exists but none of its image files is on this server."""

    status = 404
    title = "Image not found"


def documented_problem(description: str) -> dict[str, Any]:
    """An OpenAPI ``responses`` entry: this status answers with a problem document."""
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def problem_type(name: str) -> str:
    """``BadImageError`` -> ``urn:lookalike:problem:bad-image``: a stable id clients can branch on."""
    stem = name.removesuffix("Error") or name
    return TYPE_PREFIX + re.sub(r"(?<!^)(?=[A-Z])", "-", stem).lower()


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": type_ or "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def public_detail(request: Request, detail: str) -> str:
    """A tenant's catalog is stored under an opaque name; errors say the tenant's own name for it."""
    for storage, name in getattr(request.state, "public_names", {}).items():
        detail = detail.replace(repr(storage), repr(name)).replace(storage, name)
    return detail


async def client_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClientError)
    retry_after = getattr(exc, "retry_after_s", None)  # OverloadedError (429) says when to come back
    headers = dict(getattr(exc, "headers", None) or {})  # e.g. 401's WWW-Authenticate
    if isinstance(retry_after, int | float):
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return problem_response(
        request,
        exc.status,
        public_detail(request, exc.detail),
        title=exc.title,
        type_=problem_type(type(exc).__name__),
        headers=headers or None,
        **getattr(exc, "problem_extra", {}),  # e.g. the plan limit a 403/429 names
    )


async def not_ready_handler(request: Request, exc: Exception) -> JSONResponse:
    """Models still loading, or an index version that failed to load: the server's state, not a bug."""
    log.warning("not_ready path=%s reason=%s", request.url.path, exc)
    if isinstance(exc, CatalogLoadingError):  # a cold catalog still loading: come back soon
        return problem_response(
            request,
            503,
            str(exc),
            title="Catalog index loading",
            type_=problem_type("CatalogLoading"),
            headers={"Retry-After": str(max(1, round(exc.retry_after_s)))},
        )
    return problem_response(
        request,
        503,
        without_paths(str(exc)),
        title="Service not ready",
        type_=problem_type("NotReady"),
        headers={"Retry-After": "5"},
    )


async def dependency_handler(request: Request, exc: Exception) -> JSONResponse:
    """The catalog database went away (or is locked): answer 503 now; the pool reconnects by itself."""
    log.warning("dependency_unavailable path=%s error=%s", request.url.path, exc)
    return problem_response(
        request,
        503,
        f"the catalog database is unavailable ({public_reason(exc)}); retry later",
        title="Dependency unavailable",
        type_=problem_type("DependencyUnavailable"),
        headers={"Retry-After": "5"},
    )


async def budget_handler(request: Request, exc: Exception) -> JSONResponse:
    """A search that ran past ``api.search_budget_s``: the server was too busy or the image too costly."""
    log.warning("search_budget path=%s reason=%s", request.url.path, exc)
    return problem_response(
        request,
        503,
        str(exc),
        title="Search over its time budget",
        type_=problem_type("SearchBudget"),
        headers={"Retry-After": "5"},
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    detail = (
        "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
    )
    return problem_response(
        request, 422, detail, title="Invalid parameter", type_=problem_type("InvalidParameter"), errors=errors
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route matches {request.method} {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(
        request, exc.status_code, detail, headers=dict(exc.headers) if exc.headers else None
    )


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug: log everything, tell the client nothing about the internals."""
    log.error("unhandled_error method=%s path=%s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, 500, "an internal error occurred; it has been logged")


def status_of(exc: Exception) -> int:
    """The HTTP status the handlers below answer ``exc`` with (for metrics counted before they run)."""
    if isinstance(exc, ClientError):
        return exc.status
    if isinstance(exc, NotReadyError | IndexVersionError):
        return 503
    if isinstance(exc, RequestValidationError):
        return 422
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    return 500


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientError, client_error_handler)
    app.add_exception_handler(NotReadyError, not_ready_handler)
    app.add_exception_handler(IndexVersionError, not_ready_handler)
    app.add_exception_handler(SearchBudgetError, budget_handler)
    for unavailable in (OperationalError, InterfaceError, DisconnectionError, SQLAlchemyTimeoutError):
        app.add_exception_handler(unavailable, dependency_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unhandled_error_handler)


__all__ = [
    "PROBLEM_JSON",
    "ItemImageNotFoundError",
    "MalformedBodyError",
    "UnsupportedMediaTypeError",
    "UrlFetchDisabledError",
    "install_problem_handlers",
    "problem_response",
    "problem_type",
    "status_of",
]
