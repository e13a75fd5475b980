"""Result caches: bounded in bytes, LRU, JSON round trip, and Redis for a fleet."""

from __future__ import annotations

import uuid

import pytest

from lookalike.types import Box, CatalogItem, Match, Region, RegionResult, SearchResult
from service.result_cache import (
    LruResultCache,
    RedisResultCache,
    cache_key,
    result_from_json,
    result_to_json,
)


def result(version: str = "v1", n: int = 3) -> SearchResult:
    item = CatalogItem("sku-1", title="Red shirt", price=19.5, attributes={"kids": False})
    return SearchResult(
        "demo",
        version,
        100,
        200,
        [RegionResult(Region(Box(1, 2, 30, 40), "Shirt", 0.9), [Match(item, 0.8)] * n)],
        {"embed": 12.0},
    )


def test_json_round_trip_is_lossless() -> None:
    r = result()
    assert result_from_json(result_to_json(r)) == r


def test_json_round_trip_keeps_the_text_read_and_each_match_s_signals() -> None:
    r = result()
    r.regions[0].matches = [Match(r.regions[0].matches[0].item, 0.03, ("visual", "text"))]
    r.regions[0].text = ["ZARA", "Linen blend shirt"]
    r.text, r.query_text = ["9:41", "ZARA", "Linen blend shirt"], "zara linen blend shirt"
    back = result_from_json(result_to_json(r))
    assert back == r and back.regions[0].matches[0].signals == ("visual", "text")


def test_key_changes_with_index_version_and_parameters() -> None:
    base = cache_key("sha", "v1", ("demo", 10, None, None, None))
    assert base == cache_key("sha", "v1", ("demo", 10, None, None, None))
    assert base != cache_key("sha", "v2", ("demo", 10, None, None, None))
    assert base != cache_key("sha", "v1", ("demo", 5, None, None, None))


def test_lru_evicts_least_recently_used_within_its_byte_bound() -> None:
    one = len(result_to_json(result()))
    cache = LruResultCache(max_bytes=int(one * 2.5))
    cache.put("a", result())
    cache.put("b", result())
    assert cache.get("a") is not None  # a is now most recent
    cache.put("c", result())
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache.size_bytes <= cache.max_bytes


def test_redis_cache_round_trip_and_outage_is_a_miss() -> None:
    pytest.importorskip("redis")
    cache = RedisResultCache("redis://127.0.0.1:6379/0", ttl_s=30, prefix=f"test:{uuid.uuid4()}:")
    try:
        cache._redis.ping()
    except Exception:
        pytest.skip("no Redis at 127.0.0.1:6379")
    cache.put("k", result())
    assert cache.get("k") == result()
    down = RedisResultCache("redis://127.0.0.1:1/0")
    assert down.get("k") is None
    down.put("k", result())  # must not raise
