"""Why a caller is refused: no key, a missing scope, a plan's limit. Each names what to do."""

from __future__ import annotations

from typing import Any, ClassVar

from lookalike.errors import ClientError


class UnauthenticatedError(ClientError):
    """No key, or a key that is unknown, expired or revoked (all alike: no oracle for keys)."""

    status = 401
    title = "API key required"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="lookalike"'}


class ScopeError(ClientError):
    """A valid key without the scope the endpoint needs."""

    status = 403
    title = "Missing scope"


class PlanLimitError(ClientError):
    """A size limit or model of the tenant's plan; ``limit`` names it, ``value`` is the plan's value."""

    status = 403
    title = "Plan limit reached"

    def __init__(self, detail: str, *, limit: str, value: Any) -> None:
        super().__init__(detail)
        self.problem_extra = {"limit": limit, "limit_value": value}


class RateLimitedError(ClientError):
    """Over the plan's request rate (or its monthly search allowance): come back after ``retry_after_s``."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, limit: str, value: Any, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.problem_extra = {"limit": limit, "limit_value": value}


class ConflictError(ClientError):
    """A name that is already taken by the same owner (a tenant slug, a plan, the tenant's own catalog)."""

    status = 409
    title = "Already exists"


class UnknownTenantError(ClientError):
    status = 404
    title = "Unknown tenant"


class UnknownKeyError(ClientError):
    status = 404
    title = "Unknown key"


class UnknownPlanError(ClientError):
    status = 404
    title = "Unknown plan"
