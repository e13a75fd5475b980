"""The cross-request batcher: results in order, bounded waits, isolated failures, 429 when full."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from lookalike.batching import DynamicBatcher, InFlight, OverloadedError


def test_each_caller_gets_its_own_results_in_order() -> None:
    batch_sizes: list[int] = []

    def double(items: Sequence[int]) -> list[int]:
        batch_sizes.append(len(items))
        return [2 * i for i in items]

    batcher: DynamicBatcher[int, int] = DynamicBatcher(double, max_batch_size=64, max_wait_ms=250)
    requests = [list(range(n * 10, n * 10 + (n % 4) + 1)) for n in range(16)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(batcher.submit, requests))
    assert results == [[2 * i for i in r] for r in requests]
    assert max(batch_sizes) > 4, "concurrent requests should share model calls"
    assert batcher.stats.items == sum(len(r) for r in requests)


def test_a_lone_request_waits_at_most_max_wait() -> None:
    batcher: DynamicBatcher[int, int] = DynamicBatcher(lambda xs: list(xs), max_batch_size=32, max_wait_ms=30)
    start = time.perf_counter()
    assert batcher.submit([1]) == [1]
    assert time.perf_counter() - start < 0.5


def test_batch_is_cut_at_max_batch_size() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def slow(items: Sequence[int]) -> list[int]:
        gate.wait(2)
        sizes.append(len(items))
        return list(items)

    batcher: DynamicBatcher[int, int] = DynamicBatcher(slow, max_batch_size=4, max_wait_ms=200, max_queue=64)
    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(batcher.submit, [i]) for i in range(12)]
        time.sleep(0.3)
        gate.set()
        assert sorted(f.result()[0] for f in futures) == list(range(12))
    assert max(sizes) <= 4


def test_one_bad_input_fails_only_its_own_request() -> None:
    def picky(items: Sequence[int]) -> list[int]:
        if any(i < 0 for i in items):
            raise ValueError("negative input")
        return [i + 1 for i in items]

    batcher: DynamicBatcher[int, int] = DynamicBatcher(picky, max_batch_size=64, max_wait_ms=100)
    with ThreadPoolExecutor(6) as pool:
        futures = {n: pool.submit(batcher.submit, [n]) for n in (1, 2, -3, 4, 5, 6)}
        for n, fut in futures.items():
            if n < 0:
                with pytest.raises(ValueError, match="negative"):
                    fut.result()
            else:
                assert fut.result() == [n + 1]
    assert batcher.stats.isolated_failures == 1


def test_a_full_queue_answers_overloaded_with_retry_after() -> None:
    entered = threading.Event()
    release = threading.Event()

    def blocked(items: Sequence[int]) -> list[int]:
        entered.set()
        release.wait(10)
        return list(items)

    batcher: DynamicBatcher[int, int] = DynamicBatcher(blocked, max_batch_size=1, max_wait_ms=0, max_queue=2)
    with ThreadPoolExecutor(4) as pool:
        running = [pool.submit(batcher.submit, [0])]
        assert entered.wait(10), "the worker never took the first job"  # job 0 is now in the worker
        running += [pool.submit(batcher.submit, [i]) for i in (1, 2)]  # these two fill the queue
        deadline = time.monotonic() + 10
        while batcher.queued < 2 and time.monotonic() < deadline:  # a loaded machine is slow to enqueue
            time.sleep(0.01)
        assert batcher.queued == 2
        with pytest.raises(OverloadedError) as info:
            batcher.submit([99])
        assert info.value.status == 429 and info.value.retry_after_s > 0
        release.set()
        assert [f.result() for f in running] == [[0], [1], [2]]


def test_a_lone_request_in_flight_does_not_wait_for_company() -> None:
    in_flight = InFlight()
    batcher: DynamicBatcher[int, int] = DynamicBatcher(
        lambda xs: list(xs), max_batch_size=32, max_wait_ms=3000, demand=in_flight.count
    )
    with in_flight:
        start = time.perf_counter()
        assert batcher.submit([1]) == [1]
        assert time.perf_counter() - start < 1.0  # far below max_wait: nobody else could join


def test_requests_in_flight_are_still_gathered_into_one_batch() -> None:
    in_flight = InFlight()
    sizes: list[int] = []

    def record(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return list(items)

    batcher: DynamicBatcher[int, int] = DynamicBatcher(
        record, max_batch_size=32, max_wait_ms=2000, demand=in_flight.count
    )
    arrived = threading.Barrier(4)

    def request(i: int) -> list[int]:
        with in_flight:
            arrived.wait(5)  # all four are in flight before any submits
            time.sleep(0.05 * i)  # they reach the batcher at different times
            return batcher.submit([i])

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(request, range(4))) == [[0], [1], [2], [3]]
    assert sizes == [4]  # the worker waited for the three that were on their way, then stopped


def test_in_flight_with_a_limit_turns_the_next_request_away_with_retry_after() -> None:
    admission = InFlight(limit=2)
    with admission, admission:
        assert admission.count() == 2
        with pytest.raises(OverloadedError) as info, admission:
            pass
        assert info.value.retry_after_s >= 1
    assert admission.count() == 0  # a refused request leaves no trace
    with admission:
        assert admission.count() == 1
