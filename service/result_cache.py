"""Search results cached by (image bytes hash, catalog index version, parameters, models).

A repeated screenshot (a viral post, a retry) skips decode and inference. The index version
is part of the key, so a re-ingest or rollback can never serve stale results. In-process
LRU bounded in bytes by default; Redis for a fleet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import asdict
from typing import Any, Protocol

from lookalike.types import (
    Box,
    CatalogItem,
    Explanation,
    Match,
    Region,
    RegionResult,
    SafetyFinding,
    SearchResult,
)

log = logging.getLogger(__name__)


class ResultCache(Protocol):
    def get(self, key: str) -> SearchResult | None: ...

    def put(self, key: str, result: SearchResult) -> None: ...


def cache_key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def result_to_json(result: SearchResult) -> bytes:
    return json.dumps(asdict(result), separators=(",", ":")).encode()


def result_from_json(data: bytes) -> SearchResult:
    raw: dict[str, Any] = json.loads(data)
    regions = [
        RegionResult(
            Region(Box(**r["region"]["box"]), r["region"]["category"], r["region"]["score"]),
            [
                Match(
                    CatalogItem(**m["item"]),
                    m["score"],
                    tuple(m["signals"]),
                    Explanation(**m["explanation"]) if m.get("explanation") else None,
                )
                for m in r["matches"]
            ],
            list(r["text"]),
        )
        for r in raw["regions"]
    ]
    return SearchResult(
        catalog=raw["catalog"],
        index_version=raw["index_version"],
        image_width=raw["image_width"],
        image_height=raw["image_height"],
        regions=regions,
        timings_ms=raw["timings_ms"],
        text=list(raw["text"]),
        query_text=raw["query_text"],
        safety=raw.get("safety"),
        safety_findings=[SafetyFinding(**f) for f in raw.get("safety_findings", [])],
    )


class LruResultCache:
    """Thread-safe LRU bounded by the serialised size of its entries."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[SearchResult, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> SearchResult | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: str, result: SearchResult) -> None:
        size = len(result_to_json(result))
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (result, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted


class RedisResultCache:
    """Shared by every replica. A Redis outage degrades to a miss, never a failed search."""

    def __init__(self, url: str, ttl_s: int = 3600, prefix: str = "lookalike:result:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.2)
        self.ttl_s = ttl_s
        self.prefix = prefix

    def get(self, key: str) -> SearchResult | None:
        try:
            data = self._redis.get(self.prefix + key)
        except Exception as exc:  # a cache must never fail a request
            log.warning("redis cache get failed: %s", exc)
            return None
        return result_from_json(data) if isinstance(data, bytes) else None

    def put(self, key: str, result: SearchResult) -> None:
        try:
            self._redis.set(self.prefix + key, result_to_json(result), ex=self.ttl_s)
        except Exception as exc:
            log.warning("redis cache put failed: %s", exc)


class TieredResultCache:
    """Local LRU in front of a shared cache."""

    def __init__(self, local: ResultCache, shared: ResultCache) -> None:
        self.local, self.shared = local, shared

    def get(self, key: str) -> SearchResult | None:
        hit = self.local.get(key)
        if hit is None:
            hit = self.shared.get(key)
            if hit is not None:
                self.local.put(key, hit)
        return hit

    def put(self, key: str, result: SearchResult) -> None:
        self.local.put(key, result)
        self.shared.put(key, result)
