"""GET /metrics: Prometheus text format: per-catalog index loads, swaps and refused versions,
index residency (resident catalogs and bytes, hits, misses, evictions, load times) and searches
per tenant with the latency of each stage."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import generate_latest

from api.auth import AdminCaller
from api.deps import RuntimeDep
from index.metrics import METRICS

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics: index residency and versions, searches per tenant and stage",
)
async def metrics(runtime: RuntimeDep, _: AdminCaller) -> PlainTextResponse:
    """With ``tenancy.auth = "keys"`` an operator key scrapes it (series name tenants and catalogs)."""
    text = METRICS.render() + generate_latest(runtime.telemetry).decode()
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
