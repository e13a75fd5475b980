"""A plan's rate and monthly allowance, enforced across every server process.

Rates use GCRA (the generic cell rate algorithm: one "theoretical arrival time" per tenant,
equivalent to a token bucket of ``burst`` tokens refilled at ``rate_per_s``). With Redis the
check is one Lua script (atomic, Redis's own clock); without it, one conditional UPDATE in the
database does the same, so two processes never both spend the last token.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenancy.models import RateStateRow
from tenancy.store import TenancyStore

GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - tolerance
if wait > 0 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return '0'
"""

MONTH_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', 3456000)
end
local used = redis.call('INCR', KEYS[1])
if used > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return 0
end
return 1
"""


class RateLimiter(Protocol):
    def acquire(self, key: str, rate_per_s: float, burst: int) -> float:
        """0 when the request may go; else the seconds until one may."""
        ...


def _gcra(rate_per_s: float, burst: int) -> tuple[float, float]:
    """(emission interval, tolerance): ``burst`` requests at once, then one per interval.

    A request is let through when the arrival time it pushes out lies within the tolerance."""
    interval = 1.0 / rate_per_s
    return interval, interval * max(burst, 1)


class RedisRateLimiter:
    """``prefix`` keeps deployments that share one Redis apart (``tenancy.redis_prefix``)."""

    def __init__(self, client: Any, prefix: str = "lookalike") -> None:
        self._script = client.register_script(GCRA_LUA)
        self.prefix = prefix

    def acquire(self, key: str, rate_per_s: float, burst: int) -> float:
        interval, tolerance = _gcra(rate_per_s, burst)
        wait = self._script(keys=[f"{self.prefix}:rate:{key}"], args=[repr(interval), repr(tolerance)])
        return float(wait)


class DatabaseRateLimiter:
    """The same algorithm as one conditional UPDATE: only one of two racing processes matches."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, key: str, rate_per_s: float, burst: int) -> float:
        interval, tolerance = _gcra(rate_per_s, burst)
        now = time.time()
        start = case((RateStateRow.tat < now, now), else_=RateStateRow.tat)
        with self.engine.begin() as conn:
            took = conn.execute(
                update(RateStateRow)
                .where(RateStateRow.key == key, start + interval - now <= tolerance)
                .values(tat=start + interval)
            ).rowcount
            if took:
                return 0.0
            tat = conn.execute(select(RateStateRow.tat).where(RateStateRow.key == key)).scalar()
        if tat is None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(RateStateRow).values(key=key, tat=now))
            except IntegrityError:
                pass  # another process made it first
            return self.acquire(key, rate_per_s, burst)
        return max(max(tat, now) + interval - now - tolerance, 0.001)


class MonthlyCounter(Protocol):
    def reserve(self, tenant_id: int, allowance: int, month: date) -> bool:
        """Count one search; False (and not counted) when the month's allowance is spent."""
        ...


class RedisMonthlyCounter:
    """Redis counts (atomic), seeded from the database's meter when the key is new."""

    def __init__(self, client: Any, store: TenancyStore, prefix: str = "lookalike") -> None:
        self.client = client
        self._script = client.register_script(MONTH_LUA)
        self.store = store
        self.prefix = prefix

    def reserve(self, tenant_id: int, allowance: int, month: date) -> bool:
        key = f"{self.prefix}:month:{tenant_id}:{month:%Y-%m}"
        seed = 0 if self.client.exists(key) else self.store.month_searches(tenant_id, month)
        ok = bool(self._script(keys=[key], args=[allowance, seed]))
        if ok:
            self.store.record(tenant_id, searches=1)
        return ok


class DatabaseMonthlyCounter:
    def __init__(self, store: TenancyStore) -> None:
        self.store = store

    def reserve(self, tenant_id: int, allowance: int, month: date) -> bool:
        return self.store.reserve_search(tenant_id, allowance, month)


def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


__all__ = [
    "DatabaseMonthlyCounter",
    "DatabaseRateLimiter",
    "MonthlyCounter",
    "RateLimiter",
    "RedisMonthlyCounter",
    "RedisRateLimiter",
    "redis_client",
]
