"""Searches per tenant and the latency of each pipeline stage, as Prometheus series.

The tenant label is whatever the API resolved for the caller (``UNKNOWN_TENANT`` until tenancy
names one); the catalog is not a label: a thousand catalogs would make a thousand series per stage.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram

UNKNOWN_TENANT = "unknown"
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class SearchMetrics:
    """``lookalike_search_requests_total{tenant,outcome}`` and ``lookalike_search_stage_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "lookalike_search_requests",
            "Searches answered, by tenant and outcome ('ok' or the HTTP status of the error).",
            ["tenant", "outcome"],
            registry=registry,
        )
        self.stages = Histogram(
            "lookalike_search_stage_seconds",
            "Time per search stage (read, fetch, hash, decode, detect, embed, search, metadata, total).",
            ["tenant", "stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.safety = Counter(
            "lookalike_upload_safety",
            "Uploads screened by the safety gate, by tenant and verdict (allow, flag, refuse).",
            ["tenant", "action"],
            registry=registry,
        )

    def observe(self, tenant: str, timings_ms: Mapping[str, float]) -> None:
        """One answered search: counted, and each stage it ran timed (``cache_hit`` is a flag)."""
        self.requests.labels(tenant, "ok").inc()
        for stage, ms in timings_ms.items():
            if stage != "cache_hit":
                self.stages.labels(tenant, stage).observe(ms / 1000.0)

    def screened(self, tenant: str, action: str) -> None:
        """One upload's safety verdict (a cached answer counts again: it is answered again)."""
        self.safety.labels(tenant, action).inc()

    def failed(self, tenant: str, status: int) -> None:
        self.requests.labels(tenant, str(status)).inc()


__all__ = ["UNKNOWN_TENANT", "SearchMetrics"]
