"""Limits hold across server processes: two processes racing for the last tokens of a rate, or the
last searches of a month, never both get them. Redis (when reachable) and the database fallback
(SQLite and PostgreSQL) are held to the same counts.

No timing in here: the rate is so slow (1 request per 100 s) that no token refills during a test,
so exactly ``burst`` requests pass however the processes interleave."""

from __future__ import annotations

import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pytest

from catalog import CatalogStore
from tenancy import TenancyStore
from tenancy.limits import (
    DatabaseMonthlyCounter,
    DatabaseRateLimiter,
    RedisMonthlyCounter,
    RedisRateLimiter,
    redis_client,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
ATTEMPTS = 40
MONTH = date(2026, 12, 1)


def _redis_or_skip() -> str:
    try:
        redis_client(REDIS_URL).ping()
    except Exception as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return REDIS_URL


@pytest.fixture(params=["database", "redis"])
def backend(request: pytest.FixtureRequest, database_url: str) -> tuple[str, str]:
    """(backend, database url): the database fallback on SQLite and PostgreSQL, and Redis."""
    if request.param == "redis":
        _redis_or_skip()
    store = CatalogStore(database_url)
    store.migrate()
    store.close()
    return request.param, database_url


def _rate_attempts(backend: str, url: str, key: str, burst: int) -> int:
    store = CatalogStore(url)
    limiter = (
        RedisRateLimiter(redis_client(REDIS_URL)) if backend == "redis" else DatabaseRateLimiter(store.engine)
    )
    allowed = sum(limiter.acquire(key, 0.01, burst) == 0 for _ in range(ATTEMPTS))
    store.close()
    return allowed


def _month_attempts(backend: str, url: str, tenant_id: int, allowance: int, prefix: str) -> int:
    store = CatalogStore(url)
    tenancy = TenancyStore(store.engine)
    counter = (
        RedisMonthlyCounter(redis_client(REDIS_URL), tenancy, prefix)
        if backend == "redis"
        else DatabaseMonthlyCounter(tenancy)
    )
    allowed = sum(counter.reserve(tenant_id, allowance, MONTH) for _ in range(ATTEMPTS))
    store.close()
    return allowed


def _two_processes(fn, *args: object) -> list[int]:  # type: ignore[no-untyped-def]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        return [f.result() for f in [pool.submit(fn, *args) for _ in range(2)]]


def test_two_processes_share_one_burst(backend: tuple[str, str]) -> None:
    kind, url = backend
    counts = _two_processes(_rate_attempts, kind, url, f"probe-{uuid.uuid4().hex}", 7)
    assert sum(counts) == 7, counts


def test_a_refused_request_says_when_the_next_token_comes(backend: tuple[str, str]) -> None:
    kind, url = backend
    store = CatalogStore(url)
    limiter = (
        RedisRateLimiter(redis_client(REDIS_URL)) if kind == "redis" else DatabaseRateLimiter(store.engine)
    )
    key = f"wait-{uuid.uuid4().hex}"
    assert [limiter.acquire(key, 2.0, 2) for _ in range(2)] == [0.0, 0.0]
    wait = limiter.acquire(key, 2.0, 2)
    assert 0.4 < wait <= 0.5  # one token per 0.5 s
    store.close()


def test_two_processes_share_one_monthly_allowance(backend: tuple[str, str], tmp_path: Path) -> None:
    kind, url = backend
    store = CatalogStore(url)
    tenancy = TenancyStore(store.engine)
    tenant = tenancy.create_tenant(f"m-{uuid.uuid4().hex[:10]}")
    tenancy.record(tenant.id, searches=3, day=MONTH)  # already used this month, before Redis knew
    counts = _two_processes(_month_attempts, kind, url, tenant.id, 10, f"test-{uuid.uuid4().hex}")
    assert sum(counts) == 7, counts
    assert tenancy.month_searches(tenant.id, MONTH) == 10  # the meter counted exactly what passed
    store.close()
