"""Shared route dependencies as ``Annotated`` aliases: what a handler needs, taken from app state.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the threadpool,
and four thread hops cost more than a cached search answer itself.
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from api.auth import CallerDep
from api.readiness import Warmup
from jobs import DEFAULT_OWNER, JobQueue
from lookalike.settings import Settings
from service.runtime import Runtime
from service.telemetry import UNKNOWN_TENANT


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_warmup(request: Request) -> Warmup:
    warmup: Warmup = request.app.state.warmup
    return warmup


async def get_http_client(request: Request) -> httpx.AsyncClient:
    client: httpx.AsyncClient = request.app.state.http
    return client


async def get_job_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.jobs
    return queue


async def get_job_owner(caller: CallerDep) -> str:
    """Whose jobs a request sees and submits: the calling tenant (one owner when auth is off)."""
    return caller.tenant or DEFAULT_OWNER


def tenant_label(request: Request) -> str:
    """Who the caller is, for per-tenant metrics: ``request.state.tenant_id`` once authentication
    has set it (tenancy), else "unknown"."""
    tenant = getattr(request.state, "tenant_id", None)
    return str(tenant) if tenant else UNKNOWN_TENANT


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
WarmupDep = Annotated[Warmup, Depends(get_warmup)]
HttpClientDep = Annotated[httpx.AsyncClient, Depends(get_http_client)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
JobOwnerDep = Annotated[str, Depends(get_job_owner)]

__all__ = [
    "HttpClientDep",
    "JobOwnerDep",
    "JobQueueDep",
    "RuntimeDep",
    "SettingsDep",
    "WarmupDep",
    "tenant_label",
]
