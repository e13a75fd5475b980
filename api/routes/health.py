"""Liveness (/healthz: the process answers) and readiness (/readyz: models and indexes loaded)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import WarmupDep
from api.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="The process is up (never waits on models)")
async def healthz() -> HealthOut:
    return HealthOut()


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Ready to search: store, detector, embedder and preloaded catalog indexes loaded",
    responses={503: {"model": ReadyOut, "description": "Not ready; `missing` says what is not loaded yet"}},
)
def readyz(warmup: WarmupDep) -> JSONResponse:
    report = warmup.report()
    body = ReadyOut(
        status="ready" if report.ready else "not ready",
        checks=report.checks,
        missing=report.missing,
        runtimes=report.runtimes,
    )
    return JSONResponse(body.model_dump(), status_code=200 if report.ready else 503)
